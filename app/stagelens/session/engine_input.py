"""The conversation turned into the engine's input: the one place this conversion happens.

`request_for` (on the thread that owns the conversation) picks what the model is given: the new
question with its images, and every earlier turn that was answered in full. A failed or stopped
turn is left out, but its images stay with the chat: they go with the next turn that is given.
`EngineRequest.resolve` (on the engine's thread) waits for those images to be decoded and makes
the engine's `UserTurn` and `PastTurn`s (stagelens.engine.turns) from the pixels decoded once, in
the background; each past turn carries the token ids its answer was made of and the model they
belong to (Trace.assistant_tokens, Trace.model.key), so the engine gives the model back exactly
what it produced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stagelens.engine import CancelFlag, Engine, PastTurn, StageEvent, Trace, UserTurn
from stagelens.images import ChatImage, PreparedImage
from stagelens.session.conversation import Turn
from stagelens.settings import SearchSettings

WAIT_SLICE_S = 0.05  # how often a wait for images looks at the cancel flag


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
                turn.trace.model.key,
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
    return engine.answer(user, history, settings=settings, on_event=on_event, cancel=cancel)


def _pixels(images: Sequence[ChatImage], cancel: CancelFlag | None) -> tuple[PreparedImage, ...]:
    prepared: list[PreparedImage] = []
    for image in images:
        while image.decoding and not (cancel is not None and cancel.is_set()):
            image.wait(WAIT_SLICE_S)
        if image.prepared is not None:
            prepared.append(image.prepared)
    return tuple(prepared)


def _tokens(trace: Trace) -> tuple[int, ...] | None:
    """The ids of the model's turn; None for traces saved before they were kept (schema 1)."""
    return tuple(trace.assistant_tokens) if trace.assistant_tokens else None
