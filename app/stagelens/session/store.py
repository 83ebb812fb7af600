"""What the session needs from a conversation store (stagelens.history.HistoryStore is the one
the program uses); declared here so the session does not depend on how conversations are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from stagelens.images import ChatImage
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn

# (file, name, suffix) -> the image, read in the background
OpenImage = Callable[[Path, str, str], ChatImage]


class ConversationStore(Protocol):
    def create_conversation(self, title: str) -> int: ...
    def list_conversations(self, search: str = "") -> list[ConversationSummary]: ...
    def load_conversation(self, conversation_id: int, open_image: OpenImage) -> Conversation | None: ...
    def rename(self, conversation_id: int, title: str) -> None: ...
    def delete(self, conversation_id: int) -> None: ...
    def add_turn(self, conversation_id: int, turn: Turn, answer: Answer, first: bool = False) -> int:
        """After `turn.parent` (saved), at the start (`first`) or after the turn asked last."""

    def add_answer(self, turn_id: int, answer: Answer) -> int: ...
    def select_answer(self, turn_id: int, version: int) -> None: ...
    def choose_branch(self, conversation_id: int, parent_id: int | None, index: int) -> None:
        """Which branch is shown after the turn `parent_id` (None: at the start)."""

    def close(self) -> None: ...
