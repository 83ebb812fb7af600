"""What the session needs from a conversation store (stagelens.history.HistoryStore is the one
the program uses); declared here so the session does not depend on how conversations are kept.

A store assigns the row ids of what it saves (Conversation.id, Turn.id, Answer.id). Its reads and
writes raise `StoreUnavailableError` (`StoreBusyError` when another program holds a lock) for
what may work later, and `StoreResetError` when it found its file damaged: it has kept the file
aside and started empty, so whatever the session holds must be saved again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stagelens.images import ChatImage
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn

# (file, name, suffix) -> the image, read in the background
OpenImage = Callable[[Path, str, str], ChatImage]


@dataclass(frozen=True)
class StoreNotice:
    """Something the person should know about the store, in one or two sentences."""

    kind: str  # "recovered" (damaged, kept aside, started anew) | "locked" | "available" | "unavailable"
    message: str
    path: Path | None = None  # the copy kept aside ("recovered")


class StoreUnavailableError(Exception):
    """A read or write that did not happen and may later (locked, disk full, read-only); str() says why."""


class StoreBusyError(StoreUnavailableError):
    """Another program holds a lock on the store."""


class StoreResetError(Exception):
    """The store's file was damaged: it was kept aside and an empty store started (see `notice`)."""

    def __init__(self, notice: StoreNotice) -> None:
        super().__init__(notice.message)
        self.notice = notice


class ConversationStore(Protocol):
    folder: Path
    notices: list[StoreNotice]  # what happened when it was opened

    @property
    def ready(self) -> bool: ...
    def retry_open(self) -> StoreNotice | None: ...
    def list_conversations(self, search: str = "") -> list[ConversationSummary]: ...
    def load_conversation(self, conversation_id: int, open_image: OpenImage) -> Conversation | None: ...
    def rename(self, conversation_id: int, title: str) -> None: ...
    def delete(self, conversation_id: int) -> None: ...
    def select_answer(self, turn_id: int, version: int) -> None: ...
    def choose_branch(self, conversation_id: int, parent_id: int | None, index: int) -> None:
        """Which branch is shown after the turn `parent_id` (None: at the start)."""

    # written ahead: the question when it is sent, the answer while it streams, then finished
    def start_turn(self, conversation: Conversation, turn: Turn, answer: Answer) -> None: ...
    def start_answer(self, turn: Turn, answer: Answer) -> None: ...
    def save_partial(self, turn: Turn, answer: Answer) -> None: ...
    def finish_answer(self, turn: Turn, answer: Answer) -> None: ...
    def save_conversation(self, conversation: Conversation) -> None: ...
    def close(self) -> None: ...
