"""Conversation history: SQLite (WAL) under the user data directory, with images kept as files
named by the image's digest (stagelens.images.ChatImage) and every answer's full trace as JSON.
It stores and returns the session's own types (Conversation, Turn, Answer).

- store.py: HistoryStore (answers written ahead, updated while they stream, finished)
- schema.py: the tables and the migration of a history written by an earlier StageLens
- recovery.py: damaged, unreadable and locked files
- cleanup.py: what a killed program leaves behind, and the lock that keeps a running one safe
- rows.py: how images and answers are written in rows
"""

from stagelens.history.schema import SCHEMA_VERSION
from stagelens.history.store import BUSY_TIMEOUT_S, DB_NAME, OPEN_WAIT_S, HistoryStore

__all__ = ["BUSY_TIMEOUT_S", "DB_NAME", "OPEN_WAIT_S", "SCHEMA_VERSION", "HistoryStore"]
