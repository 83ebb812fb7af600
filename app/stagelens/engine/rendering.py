"""A user turn as the text the model reads.

The first turn of a conversation is rendered by the model's chat template. Every later turn is
built from the template's turn pieces (the end of the assistant's turn, the user's turn, the
generation prompt), derived once by rendering sentinels: the past is never rendered again, so
the model reads its own earlier answers exactly as it produced them, whatever the template does
with past assistant turns (SmolVLM's renders them as "Assistant: " but asks with "Assistant:").
"""

from __future__ import annotations

from dataclasses import dataclass

from stagelens.engine.prompt import ChatTemplate, Message, TemplateError, user_content
from stagelens.engine.turns import UserTurn


@dataclass(frozen=True)
class TurnText:
    text: str
    add_special: bool  # let the tokenizer add BOS (the template did not write it)


class TurnRenderer:
    def __init__(self, template: ChatTemplate, marker: str) -> None:
        self.template = template
        self.marker = marker
        self.pieces = template.turn_pieces()

    def content(self, turn: UserTurn) -> str:
        """The user's message: one media marker per image, then the question (markers in it made inert)."""
        return user_content(turn.question, len(turn.images), self.marker)

    def first(self, turn: UserTurn, instruction: str | None = None) -> TurnText:
        """The conversation's first turn; `instruction` goes in the system turn (or, when the template
        has none, at the start of this user turn)."""
        messages = [Message("system", instruction)] if instruction else []
        messages.append(Message("user", self.content(turn)))
        text = self.template.render(messages, add_generation_prompt=True)
        bos = self.template.bos_token
        return TurnText(text, add_special=not (bos and text.startswith(bos)))

    def follow_up(self, turn: UserTurn) -> TurnText:
        """The text that continues a conversation after the assistant's last token."""
        if self.pieces is None:
            raise TemplateError(
                "this model's chat template cannot render a new turn on its own (it does not render a "
                "user, assistant, user conversation in order), so it cannot take follow-up questions"
            )
        end_of_answer, generation_prompt = self.pieces
        return TurnText(end_of_answer + self.content(turn) + generation_prompt, add_special=False)
