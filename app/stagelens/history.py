"""Conversation history: SQLite (WAL) under the user data directory, with images kept as files
named by the image's digest (stagelens.images.ChatImage) and every answer's full trace as JSON.
It stores and returns the session's own types (Conversation, Turn, Answer).

Each finished answer is committed in its own transaction, so a crash or a kill while
answering loses only the answer that was being produced.

Schema 2 (edit and resend): a conversation is a tree of turns. `turns.parent_id` is the turn
before it in its branch (NULL: the first), `turns.chosen` the child shown after it and
`conversations.chosen_root` the first turn shown. `position` stays unique per conversation: the
order turns were asked in. A schema-1 history is one branch; opening it adds the columns and links
each turn to the one before it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stagelens.engine import Trace
from stagelens.fileio import write_atomic
from stagelens.images import ChatImage
from stagelens.paths import data_dir
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn
from stagelens.session.store import OpenImage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    images TEXT NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    UNIQUE (conversation_id, position)
);
-- schema 2 columns (added by _migrate to a schema-1 history)

CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    trace TEXT,
    error TEXT,
    created REAL NOT NULL,
    UNIQUE (turn_id, version)
);
"""


@dataclass(frozen=True)
class _StoredImage:
    """How a turn's image is written in its row (JSON); the file is images/<digest><suffix>."""

    digest: str  # the image's digest (older rows: sha256 of the file bytes)
    name: str
    suffix: str  # ".png", ".jpg", ...
    original_size: tuple[int, int] = (0, 0)
    sent_size: tuple[int, int] = (0, 0)

    @property
    def file_name(self) -> str:
        return f"{self.digest}{self.suffix}"

    def to_json(self) -> dict:
        return {
            "digest": self.digest,
            "name": self.name,
            "suffix": self.suffix,
            "original_size": list(self.original_size),
            "sent_size": list(self.sent_size),
        }

    @classmethod
    def from_json(cls, data: dict) -> _StoredImage:
        return cls(
            str(data["digest"]),
            str(data.get("name", "")),
            str(data.get("suffix", "")),
            _size(data.get("original_size")),
            _size(data.get("sent_size")),
        )


class HistoryStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else data_dir()
        self.images_dir = self.folder / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / "history.sqlite3"
        self._db = sqlite3.connect(self.db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring the tables to SCHEMA_VERSION in one transaction (columns only ever added)."""
        with self._transaction() as db:
            turn_columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
            if "parent_id" not in turn_columns:
                db.execute("ALTER TABLE turns ADD COLUMN parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE")
                db.execute("ALTER TABLE turns ADD COLUMN chosen INTEGER NOT NULL DEFAULT 0")
                # a schema-1 conversation is one branch: each turn follows the one asked before it
                db.execute(
                    "UPDATE turns SET parent_id = (SELECT p.id FROM turns p WHERE p.conversation_id = "
                    "turns.conversation_id AND p.position < turns.position ORDER BY p.position DESC LIMIT 1)"
                )
            if "chosen_root" not in {row[1] for row in db.execute("PRAGMA table_info(conversations)")}:
                db.execute("ALTER TABLE conversations ADD COLUMN chosen_root INTEGER NOT NULL DEFAULT 0")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------ images
    def _store_image(self, image: ChatImage) -> _StoredImage:
        """Keep a decoded image's file bytes under its digest (once, however many turns show it)."""
        if not image.ok:
            raise ValueError(f"{image.name} is not a readable image and cannot be stored")
        suffix = image.suffix.lower() or ".png"
        stored = _StoredImage(image.digest, image.name, suffix, image.original_size, image.sent_size)
        path = self.images_dir / stored.file_name
        if not path.exists():
            write_atomic(path, image.data)
        return stored

    def image_files(self) -> list[Path]:
        return sorted(p for p in self.images_dir.iterdir() if p.is_file() and not p.name.startswith("."))

    # ----------------------------------------------------- conversations
    def create_conversation(self, title: str) -> int:
        now = time.time()
        with self._transaction() as db:
            cur = db.execute("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (title, now, now))
            return int(cur.lastrowid or 0)

    def list_conversations(self, search: str = "") -> list[ConversationSummary]:
        query = "SELECT id, title, created, updated FROM conversations"
        params: tuple = ()
        if search.strip():
            like = f"%{_escape_like(search.strip())}%"
            # The answer is matched on its conclusion (what the user reads), never on the raw trace
            # JSON, whose keys, settings and hidden candidates would match nearly every search.
            query += (
                " WHERE title LIKE ? ESCAPE '\\' OR id IN (SELECT t.conversation_id FROM turns t"
                " LEFT JOIN answers a ON a.turn_id = t.id"
                " WHERE t.question LIKE ? ESCAPE '\\'"
                " OR json_extract(a.trace, '$.conclusion') LIKE ? ESCAPE '\\')"
            )
            params = (like, like, like)
        query += " ORDER BY updated DESC, id DESC"
        return [ConversationSummary(*row) for row in self._db.execute(query, params)]

    def conversation(self, conversation_id: int) -> ConversationSummary | None:
        row = self._db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return ConversationSummary(*row) if row else None

    def load_conversation(self, conversation_id: int, open_image: OpenImage) -> Conversation | None:
        """A saved conversation with its turns; `open_image(file, name, suffix)` makes each image."""
        row = self.conversation(conversation_id)
        if row is None:
            return None
        roots, chosen_root = self._tree(conversation_id, open_image)
        return Conversation(row.id, row.title, roots=roots, chosen_root=chosen_root)

    def rename(self, conversation_id: int, title: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, conversation_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        self._remove_unused_images()

    def _remove_unused_images(self) -> None:
        used: set[str] = set()
        for (images,) in self._db.execute("SELECT images FROM turns"):
            used.update(_StoredImage.from_json(i).file_name for i in json.loads(images))
        for path in self.images_dir.iterdir():
            if path.is_file() and path.name not in used and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------- turns
    def add_turn(self, conversation_id: int, turn: Turn, answer: Answer, first: bool = False) -> int:
        """A question with its images and its first answer, committed together; the turn's readable
        images are written first (an image file nobody refers to is removed with the next delete).
        It follows `turn.parent` once that is saved; `first`: it starts a branch at the start (the first
        question, edited); otherwise it follows the turn asked last."""
        stored = [self._store_image(image) for image in turn.images if image.ok]
        trace_json, error = _answer_row(answer)
        now = time.time()
        with self._transaction() as db:
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            parent: int | None = None
            if turn.parent is not None and turn.parent.id is not None:
                parent = turn.parent.id
            elif not first:
                last = db.execute(
                    "SELECT id FROM turns WHERE conversation_id = ? ORDER BY position DESC LIMIT 1", (conversation_id,)
                ).fetchone()
                parent = int(last[0]) if last is not None else None
            cur = db.execute(
                "INSERT INTO turns (conversation_id, position, question, images, selected, parent_id)"
                " VALUES (?, ?, ?, ?, 0, ?)",
                (conversation_id, position, turn.question, json.dumps([i.to_json() for i in stored]), parent),
            )
            turn_id = int(cur.lastrowid or 0)
            # the new turn is the branch shown from its parent on (as the session shows it)
            (siblings,) = db.execute(
                "SELECT COUNT(*) FROM turns WHERE conversation_id = ? AND parent_id IS ?", (conversation_id, parent)
            ).fetchone()
            self._choose(db, conversation_id, parent, int(siblings) - 1)
            db.execute(
                "INSERT INTO answers (turn_id, version, trace, error, created) VALUES (?, 0, ?, ?, ?)",
                (turn_id, trace_json, error, now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        answer.created = now
        return turn_id

    def add_answer(self, turn_id: int, answer: Answer) -> int:
        """Another version of a turn's answer (regenerate); it becomes the selected one."""
        trace_json, error = _answer_row(answer)
        now = time.time()
        with self._transaction() as db:
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version) + 1, 0) FROM answers WHERE turn_id = ?", (turn_id,)
            ).fetchone()
            db.execute(
                "INSERT INTO answers (turn_id, version, trace, error, created) VALUES (?, ?, ?, ?, ?)",
                (turn_id, version, trace_json, error, now),
            )
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id = (SELECT conversation_id FROM turns WHERE id = ?)",
                (now, turn_id),
            )
        answer.created = now
        return int(version)

    def choose_branch(self, conversation_id: int, parent_id: int | None, index: int) -> None:
        with self._transaction() as db:
            self._choose(db, conversation_id, parent_id, index)

    @staticmethod
    def _choose(db: sqlite3.Connection, conversation_id: int, parent_id: int | None, index: int) -> None:
        if parent_id is None:
            db.execute("UPDATE conversations SET chosen_root = ? WHERE id = ?", (index, conversation_id))
        else:
            db.execute("UPDATE turns SET chosen = ? WHERE id = ?", (index, parent_id))

    def select_answer(self, turn_id: int, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))

    def turns(self, conversation_id: int, open_image: OpenImage) -> list[Turn]:
        """The branch shown of a conversation, first to last."""
        roots, chosen_root = self._tree(conversation_id, open_image)
        return Conversation(roots=roots, chosen_root=chosen_root).turns

    def _tree(self, conversation_id: int, open_image: OpenImage) -> tuple[list[Turn], int]:
        """Every turn of a conversation, linked into its branches: (the first turns, the one shown)."""
        by_id: dict[int, Turn] = {}
        roots: list[Turn] = []
        rows = self._db.execute(
            "SELECT id, question, images, selected, parent_id, chosen FROM turns WHERE conversation_id = ?"
            " ORDER BY position",
            (conversation_id,),
        ).fetchall()
        for turn_id, question, images, selected, parent_id, chosen in rows:
            answers = [
                _answer_from_row(trace, error, created)
                for trace, error, created in self._db.execute(
                    "SELECT trace, error, created FROM answers WHERE turn_id = ? ORDER BY version", (turn_id,)
                )
            ]
            opened = [
                open_image(self.images_dir / image.file_name, image.name, image.suffix)
                for image in (_StoredImage.from_json(i) for i in json.loads(images))
            ]
            turn = Turn(question, opened, answers, min(selected, max(0, len(answers) - 1)), turn_id, chosen=chosen)
            parent = by_id.get(parent_id) if parent_id is not None else None
            turn.parent = parent
            (parent.children if parent is not None else roots).append(turn)
            by_id[turn_id] = turn
        (chosen_root,) = self._db.execute(
            "SELECT chosen_root FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone() or (0,)
        return roots, int(chosen_root)


def _answer_row(answer: Answer) -> tuple[str | None, str | None]:
    """(trace JSON, error) as an answer is stored; an answer still being written is never stored."""
    if answer.live:
        raise ValueError("an answer still being written cannot be saved")
    if answer.trace is not None:
        return answer.trace.dumps(indent=None), None
    return None, answer.error or "unknown error"


def _answer_from_row(trace_json: str | None, error: str | None, created: float) -> Answer:
    if trace_json:
        try:
            return Answer(trace=Trace.loads(trace_json), created=created)
        except Exception as exc:
            log.warning("a saved answer could not be read: %s", exc)
            return Answer(error=f"this saved answer could not be read ({exc})", created=created)
    return Answer(error=error or "unknown error", created=created)


def _size(value: object) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return (0, 0)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
