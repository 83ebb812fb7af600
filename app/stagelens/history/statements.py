"""The SQL statements the history store runs inside its transactions."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from stagelens.history.rows import StoredImage, answer_from_row
from stagelens.session.conversation import Answer, Turn
from stagelens.session.store import OpenImage


def insert_conversation(db: sqlite3.Connection, title: str) -> int:
    now = time.time()
    cur = db.execute("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (title, now, now))
    return int(cur.lastrowid or 0)


def insert_turn(db: sqlite3.Connection, conversation_id: int, question: str, images: str) -> int:
    (position,) = db.execute(
        "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    cur = db.execute(
        "INSERT INTO turns (conversation_id, position, question, images, selected) VALUES (?, ?, ?, ?, 0)",
        (conversation_id, position, question, images),
    )
    return int(cur.lastrowid or 0)


def insert_answer(
    db: sqlite3.Connection,
    turn_id: int,
    version: int,
    answer: Answer,
    state: str,
    trace_json: str | None,
    error: str | None,
    partial: str | None = None,
) -> int:
    if not answer.created:
        answer.created = time.time()
    cur = db.execute(
        "INSERT INTO answers (turn_id, version, trace, error, created, state, partial) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (turn_id, version, trace_json, error, answer.created, state, partial),
    )
    return int(cur.lastrowid or 0)


def next_version(db: sqlite3.Connection, turn_id: int) -> int:
    (version,) = db.execute(
        "SELECT COALESCE(MAX(version) + 1, 0) FROM answers WHERE turn_id = ?", (turn_id,)
    ).fetchone()
    return int(version)


def touch(db: sqlite3.Connection, conversation_id: int, when: float) -> None:
    db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (when, conversation_id))


def touch_turn(db: sqlite3.Connection, turn_id: int, when: float) -> None:
    db.execute(
        "UPDATE conversations SET updated = ? WHERE id = (SELECT conversation_id FROM turns WHERE id = ?)",
        (when, turn_id),
    )


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def read_turns(db: sqlite3.Connection, conversation_id: int, images_dir: Path, open_image: OpenImage) -> list[Turn]:
    """A conversation's turns with every version of their answers; `open_image` makes each image."""
    turns: list[Turn] = []
    rows = db.execute(
        "SELECT id, question, images, selected FROM turns WHERE conversation_id = ? ORDER BY position",
        (conversation_id,),
    ).fetchall()
    for turn_id, question, images, selected in rows:
        answers = [
            answer_from_row(trace, error, created, state, partial, answer_id)
            for answer_id, trace, error, created, state, partial in db.execute(
                "SELECT id, trace, error, created, state, partial FROM answers WHERE turn_id = ? ORDER BY version",
                (turn_id,),
            )
        ]
        opened = [
            open_image(images_dir / image.file_name, image.name, image.suffix)
            for image in (StoredImage.from_json(i) for i in json.loads(images))
        ]
        turns.append(Turn(question, opened, answers, min(selected, max(0, len(answers) - 1)), turn_id))
    return turns
