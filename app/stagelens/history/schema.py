"""The history's tables and how a history written by an earlier StageLens is brought up to date.

Version 1 (StageLens 0.1): conversations, turns, answers (a trace or an error, written when the
answer was done). Version 2: answers are written ahead, when the question is sent, and updated
while they stream: `state` ('streaming' until done) and `partial` (the stage and every
candidate's text so far, JSON). A version-1 row is a finished answer. Version 3: a conversation is a tree of turns
(edit and resend; branches.py); an older conversation is one branch.
"""

from __future__ import annotations

import sqlite3

from stagelens.history import branches

SCHEMA_VERSION = 3

_TABLES = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    chosen_root INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    images TEXT NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE,
    chosen INTEGER NOT NULL DEFAULT 0,
    UNIQUE (conversation_id, position)
);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    trace TEXT,
    error TEXT,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'done',
    partial TEXT,
    UNIQUE (turn_id, version)
);
"""

# version -> the statements that bring a history of that version to the next one
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE answers ADD COLUMN state TEXT NOT NULL DEFAULT 'done'",
        "ALTER TABLE answers ADD COLUMN partial TEXT",
    ),
    2: branches.MIGRATION,
}


class NewerHistoryError(Exception):
    """A history written by a newer StageLens: left as it is."""


def prepare(db: sqlite3.Connection) -> int | None:
    """Create the tables of a new history or migrate an older one, in one transaction; the version
    it was at (None: it was new). Reads only, when the history is up to date."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise NewerHistoryError(
            f"the history was written by a newer StageLens (schema {version}; this one knows {SCHEMA_VERSION})"
        )
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])  # another process may have done it
        has_tables = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone() is not None
        if not has_tables:
            for statement in _TABLES.split(";"):
                if statement.strip():
                    db.execute(statement)
            start = None
        else:
            start = version or 1  # version 0 with tables: written before user_version was set
            for step in range(start, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return start
