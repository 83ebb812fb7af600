"""Edit and resend, the session's part: an edited question is asked again after the same earlier
turns, as a new branch from that point (the old branch stays), and any branch can be shown again.
Conversation (conversation.py) holds the tree; the history keeps it (history.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stagelens.session.conversation import Conversation, Turn
from stagelens.session.saving import Write
from stagelens.session.store import ConversationStore
from stagelens.settings import SearchSettings

if TYPE_CHECKING:
    from stagelens.session.session import Session

log = logging.getLogger(__name__)


def edit(session: Session, turn: Turn, question: str, search: SearchSettings | None) -> Turn | None:
    """The edited turn, shown and answered at once; None when it cannot be asked now (busy, no model,
    an empty question, a turn not shown)."""
    question = question.strip()
    conversation = session.conversation
    if session.running is not None or not question or not session.model_ready or turn not in conversation.turns:
        return None
    edited = Turn(question, list(turn.images))
    conversation.branch(turn, edited)
    session.branch_shown.emit(conversation)
    session._start(edited, False, search)
    return edited


def choose(session: Session, turn: Turn, index: int) -> None:
    """Show the `index`-th of the branches at `turn` from there on, and remember it."""
    conversation = session.conversation
    if session.running is not None or turn not in conversation.turns:
        return
    siblings = conversation.siblings(turn)
    if not 0 <= index < len(siblings) or siblings[index] is turn:
        return
    conversation.choose(turn, index)
    write = Write("the branch shown", lambda store: remember(store, conversation, turn, index), conversation)
    write.key = ("branch", id(conversation), id(turn.parent))  # a newer choice here replaces one still waiting
    session._save(write)
    session.branch_shown.emit(conversation)


def remember(store: ConversationStore, conversation: Conversation, turn: Turn, index: int) -> None:
    """The branch shown, in the store (once the conversation and the turn before are saved)."""
    if conversation.id is not None and (turn.parent is None or turn.parent.id is not None):
        store.choose_branch(conversation.id, turn.parent.id if turn.parent is not None else None, index)
