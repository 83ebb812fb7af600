"""What a caller asks the engine about: the new user turn and the conversation before it."""

from __future__ import annotations

from dataclasses import dataclass

from stagelens.images import PreparedImage


@dataclass(frozen=True)
class UserTurn:
    """A question and the images sent with it."""

    question: str
    images: tuple[PreparedImage, ...] = ()


@dataclass(frozen=True)
class PastTurn:
    """An earlier exchange. The engine gives the model back exactly the ids it produced when
    `model_key` is this engine's (`Engine.model_key`); otherwise it reads `assistant_text` again."""

    user: UserTurn
    assistant_text: str  # the model's whole turn as text (Trace.assistant_text)
    assistant_tokens: tuple[int, ...] | None = None  # the ids it produced (Trace.assistant_tokens)
    model_key: str | None = None  # Engine.model_key of the model that produced them (Trace.model.key)
