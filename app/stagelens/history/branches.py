"""A conversation is a tree of turns (edit and resend makes a branch): how the history keeps it.

`turns.parent_id` is the turn before it in its branch (NULL: a first question), `turns.chosen` the
child shown after it and `conversations.chosen_root` the first question shown. `position` stays
unique per conversation: the order turns were asked in, so parents come before their children.
A history from before branches is one branch: migrating it links each turn to the one before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from stagelens.session.conversation import Conversation, Turn

# the migration of a history without branches (schema.py runs them in its transaction)
MIGRATION = (
    "ALTER TABLE turns ADD COLUMN parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE",
    "ALTER TABLE turns ADD COLUMN chosen INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN chosen_root INTEGER NOT NULL DEFAULT 0",
    # one branch: each turn follows the one asked before it
    "UPDATE turns SET parent_id = (SELECT p.id FROM turns p WHERE p.conversation_id = turns.conversation_id"
    " AND p.position < turns.position ORDER BY p.position DESC LIMIT 1)",
)


def parent_for(db: sqlite3.Connection, conversation_id: int, turn: Turn, first: bool) -> int | None:
    """The row a new turn follows: its parent's once saved; none for a first question (`first`);
    otherwise (a turn not linked into a conversation) the turn asked last."""
    if turn.parent is not None and turn.parent.id is not None:
        return turn.parent.id
    if first:
        return None
    last = db.execute(
        "SELECT id FROM turns WHERE conversation_id = ? ORDER BY position DESC LIMIT 1", (conversation_id,)
    ).fetchone()
    return int(last[0]) if last is not None else None


def show_new(db: sqlite3.Connection, conversation_id: int, parent_id: int | None) -> None:
    """The turn just added under `parent_id` is the branch shown from there on (as the session shows it)."""
    (siblings,) = db.execute(
        "SELECT COUNT(*) FROM turns WHERE conversation_id = ? AND parent_id IS ?", (conversation_id, parent_id)
    ).fetchone()
    choose(db, conversation_id, parent_id, int(siblings) - 1)


def choose(db: sqlite3.Connection, conversation_id: int, parent_id: int | None, index: int) -> None:
    if parent_id is None:
        db.execute("UPDATE conversations SET chosen_root = ? WHERE id = ?", (index, conversation_id))
    else:
        db.execute("UPDATE turns SET chosen = ? WHERE id = ?", (index, parent_id))


def chosen_root(db: sqlite3.Connection, conversation_id: int) -> int:
    row = db.execute("SELECT chosen_root FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    return int(row[0]) if row is not None else 0


def link(turns: Iterable[tuple[Turn, int | None]]) -> list[Turn]:
    """Turns read in the order asked, each with its parent's row: linked into their branches; the
    first questions (one per branch at the start)."""
    by_id: dict[int, Turn] = {}
    roots: list[Turn] = []
    for turn, parent_id in turns:
        parent = by_id.get(parent_id) if parent_id is not None else None
        turn.parent = parent
        (parent.children if parent is not None else roots).append(turn)
        if turn.id is not None:
            by_id[turn.id] = turn
    return roots


def keep_choices(
    db: sqlite3.Connection, conversation_id: int, conversation: Conversation, row_of: dict[int, int]
) -> None:
    """The branches shown of a conversation saved again (`row_of`: id(turn) -> its new row)."""
    for turn in conversation.every_turn():
        if turn.children:
            choose(db, conversation_id, row_of[id(turn)], turn.chosen)
    choose(db, conversation_id, None, conversation.chosen_root)
