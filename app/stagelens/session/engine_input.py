"""The conversation turned into the engine's input: the one place this conversion happens.

`request_for` (on the thread that owns the conversation) picks what the model is given: the new
question with its images, and every earlier turn that was answered in full. A failed or stopped
turn is left out, but its images stay with the chat: they go with the next turn that is given.
`EngineRequest.resolve` (on the engine's thread) waits for those images to be decoded and makes
the engine's `UserTurn` and `PastTurn`s from the pixels decoded once, in the background.

Until the engine with `answer(turn, history)` lands (branch `engine`), `UserTurn`/`PastTurn` are
declared here with the contract's fields and `run_answer` maps them onto today's
`Engine.answer(images, question, history=[Turn])`: that mapping is the only code that knows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stagelens.engine import CancelFlag, Engine, StageEvent, Trace
from stagelens.engine import Turn as EngineTurn
from stagelens.images import ChatImage, PreparedImage
from stagelens.session.conversation import Turn
from stagelens.settings import SearchSettings

WAIT_SLICE_S = 0.05  # how often a wait for images looks at the cancel flag


@dataclass(frozen=True)
class UserTurn:
    question: str
    images: tuple[PreparedImage, ...] = ()


@dataclass(frozen=True)
class PastTurn:
    user: UserTurn
    assistant_text: str  # the model's whole turn as text
    assistant_tokens: tuple[int, ...] | None = None  # the ids it produced
    model_key: str | None = None  # the model that produced them


@dataclass(frozen=True)
class _EarlierTurn:
    question: str
    images: tuple[ChatImage, ...]
    trace: Trace


@dataclass(frozen=True)
class EngineRequest:
    """What one answer is asked with, before its images are waited for (safe to hand to another thread:
    nothing in it changes)."""

    question: str
    images: tuple[ChatImage, ...]
    history: tuple[_EarlierTurn, ...] = ()

    def resolve(self, cancel: CancelFlag | None = None) -> tuple[UserTurn, tuple[PastTurn, ...]]:
        """The engine's input; an image that could not be read is left out (its thumbnail says why)."""
        history = tuple(
            PastTurn(
                UserTurn(turn.question, _pixels(turn.images, cancel)),
                turn.trace.assistant_text,
                _tokens(turn.trace),
                _model_key(turn.trace),
            )
            for turn in self.history
        )
        return UserTurn(self.question, _pixels(self.images, cancel)), history


def request_for(turns: Sequence[Turn], index: int) -> EngineRequest:
    """The request that answers `turns[index]` after the turns before it."""
    history: list[_EarlierTurn] = []
    carried: list[ChatImage] = []
    for earlier in turns[:index]:
        images = carried + earlier.images
        answer = earlier.answer
        if earlier.usable_for_history() and answer is not None and answer.trace is not None:
            history.append(_EarlierTurn(earlier.question, tuple(images), answer.trace))
            carried = []
        else:  # a failed or stopped turn is left out, but its images still belong to the chat
            carried = images
    turn = turns[index]
    return EngineRequest(turn.question, tuple(carried + turn.images), tuple(history))


def run_answer(
    engine: Engine,
    request: EngineRequest,
    settings: SearchSettings,
    on_event: Callable[[StageEvent], None] | None = None,
    cancel: CancelFlag | None = None,
) -> Trace:
    """Answer a request on `engine` (on the engine's thread)."""
    user, history = request.resolve(cancel)
    past = [EngineTurn(p.user.question, p.user.images, p.assistant_text) for p in history]
    return engine.answer(
        list(user.images), user.question, history=past, settings=settings, on_event=on_event, cancel=cancel
    )


def _pixels(images: Sequence[ChatImage], cancel: CancelFlag | None) -> tuple[PreparedImage, ...]:
    prepared: list[PreparedImage] = []
    for image in images:
        while image.decoding and not (cancel is not None and cancel.is_set()):
            image.wait(WAIT_SLICE_S)
        if image.prepared is not None:
            prepared.append(image.prepared)
    return tuple(prepared)


def _tokens(trace: Trace) -> tuple[int, ...] | None:
    tokens = getattr(trace, "assistant_tokens", None)  # traces gain the ids with the new engine
    return tuple(tokens) if tokens else None


def _model_key(trace: Trace) -> str | None:
    key = getattr(trace.model, "key", None)
    return str(key) if key else None
