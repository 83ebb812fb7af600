"""Conversation history: SQLite (WAL) under the user data directory, with images kept
as files named by the sha256 of their bytes and every answer's full trace as JSON.

Each finished answer is committed in its own transaction, so a crash or a kill while
answering loses only the answer that was being produced.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stagelens.fileio import write_atomic
from stagelens.paths import data_dir

SCHEMA_VERSION = 1

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
class StoredImage:
    digest: str  # sha256 hex of the file bytes
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
    def from_json(cls, data: dict) -> StoredImage:
        return cls(
            str(data["digest"]),
            str(data.get("name", "")),
            str(data.get("suffix", "")),
            tuple(data.get("original_size", (0, 0))),
            tuple(data.get("sent_size", (0, 0))),
        )


@dataclass(frozen=True)
class AnswerRecord:
    trace_json: str | None  # full trace (schema 1); None when the engine failed
    error: str | None = None
    created: float = 0.0


@dataclass
class TurnRecord:
    id: int
    position: int
    question: str
    images: list[StoredImage]
    answers: list[AnswerRecord] = field(default_factory=list)
    selected: int = 0


@dataclass(frozen=True)
class ConversationRow:
    id: int
    title: str
    created: float
    updated: float


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
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

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
    def store_image(self, data: bytes, name: str, suffix: str, original_size=(0, 0), sent_size=(0, 0)) -> StoredImage:
        digest = hashlib.sha256(data).hexdigest()
        image = StoredImage(digest, name, suffix.lower() or ".png", tuple(original_size), tuple(sent_size))
        path = self.image_path(image)
        if not path.exists():
            write_atomic(path, data)
        return image

    def image_path(self, image: StoredImage) -> Path:
        return self.images_dir / image.file_name

    # ----------------------------------------------------- conversations
    def create_conversation(self, title: str) -> int:
        now = time.time()
        with self._transaction() as db:
            cur = db.execute("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (title, now, now))
            return int(cur.lastrowid)

    def list_conversations(self, search: str = "") -> list[ConversationRow]:
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
        return [ConversationRow(*row) for row in self._db.execute(query, params)]

    def conversation(self, conversation_id: int) -> ConversationRow | None:
        row = self._db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return ConversationRow(*row) if row else None

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
            used.update(StoredImage.from_json(i).file_name for i in json.loads(images))
        for path in self.images_dir.iterdir():
            if path.is_file() and path.name not in used and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------- turns
    def add_turn(self, conversation_id: int, question: str, images: list[StoredImage], answer: AnswerRecord) -> int:
        """A question with its first answer, committed together."""
        now = time.time()
        with self._transaction() as db:
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            cur = db.execute(
                "INSERT INTO turns (conversation_id, position, question, images, selected) VALUES (?, ?, ?, ?, 0)",
                (conversation_id, position, question, json.dumps([i.to_json() for i in images])),
            )
            turn_id = int(cur.lastrowid)
            db.execute(
                "INSERT INTO answers (turn_id, version, trace, error, created) VALUES (?, 0, ?, ?, ?)",
                (turn_id, answer.trace_json, answer.error, now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return turn_id

    def add_answer(self, turn_id: int, answer: AnswerRecord) -> int:
        """Another version of a turn's answer (regenerate); it becomes the selected one."""
        now = time.time()
        with self._transaction() as db:
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version) + 1, 0) FROM answers WHERE turn_id = ?", (turn_id,)
            ).fetchone()
            db.execute(
                "INSERT INTO answers (turn_id, version, trace, error, created) VALUES (?, ?, ?, ?, ?)",
                (turn_id, version, answer.trace_json, answer.error, now),
            )
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id = (SELECT conversation_id FROM turns WHERE id = ?)",
                (now, turn_id),
            )
        return int(version)

    def select_answer(self, turn_id: int, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))

    def turns(self, conversation_id: int) -> list[TurnRecord]:
        records: list[TurnRecord] = []
        rows = self._db.execute(
            "SELECT id, position, question, images, selected FROM turns WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        ).fetchall()
        for turn_id, position, question, images, selected in rows:
            answers = [
                AnswerRecord(trace, error, created)
                for trace, error, created in self._db.execute(
                    "SELECT trace, error, created FROM answers WHERE turn_id = ? ORDER BY version", (turn_id,)
                )
            ]
            stored = [StoredImage.from_json(i) for i in json.loads(images)]
            records.append(
                TurnRecord(turn_id, position, question, stored, answers, min(selected, max(0, len(answers) - 1)))
            )
        return records


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
