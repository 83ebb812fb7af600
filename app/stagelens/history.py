"""Conversation history: SQLite (WAL) under the user data directory, with images kept as files
named by the image's digest (stagelens.images.ChatImage) and every answer's full trace as JSON.
It stores and returns the session's own types (Conversation, Turn, Answer).

Each finished answer is committed in its own transaction, so a crash or a kill while
answering loses only the answer that was being produced.
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
        return Conversation(row.id, row.title, self.turns(conversation_id, open_image))

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
    def add_turn(self, conversation_id: int, turn: Turn, answer: Answer) -> int:
        """A question with its images and its first answer, committed together; the turn's readable
        images are written first (an image file nobody refers to is removed with the next delete)."""
        stored = [self._store_image(image) for image in turn.images if image.ok]
        trace_json, error = _answer_row(answer)
        now = time.time()
        with self._transaction() as db:
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            cur = db.execute(
                "INSERT INTO turns (conversation_id, position, question, images, selected) VALUES (?, ?, ?, ?, 0)",
                (conversation_id, position, turn.question, json.dumps([i.to_json() for i in stored])),
            )
            turn_id = int(cur.lastrowid or 0)
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

    def select_answer(self, turn_id: int, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))

    def turns(self, conversation_id: int, open_image: OpenImage) -> list[Turn]:
        turns: list[Turn] = []
        rows = self._db.execute(
            "SELECT id, question, images, selected FROM turns WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        ).fetchall()
        for turn_id, question, images, selected in rows:
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
            turns.append(Turn(question, opened, answers, min(selected, max(0, len(answers) - 1)), turn_id))
        return turns


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
