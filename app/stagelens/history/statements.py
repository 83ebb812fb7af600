"""The SQL statements the history store runs inside its transactions."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from stagelens.history import branches
from stagelens.history.rows import DONE, STREAMING, StoredImage, answer_from_row, finished_row, partial_json
from stagelens.session.conversation import Answer, Conversation, Turn
from stagelens.session.store import OpenImage


def insert_conversation(db: sqlite3.Connection, title: str) -> int:
    now = time.time()
    cur = db.execute("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (title, now, now))
    return int(cur.lastrowid or 0)


def insert_turn(
    db: sqlite3.Connection, conversation_id: int, question: str, images: str, parent_id: int | None = None
) -> int:
    """A turn after `parent_id` (None: a first question), shown from there on."""
    (position,) = db.execute(
        "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    cur = db.execute(
        "INSERT INTO turns (conversation_id, position, question, images, selected, parent_id)"
        " VALUES (?, ?, ?, ?, 0, ?)",
        (conversation_id, position, question, images, parent_id),
    )
    branches.show_new(db, conversation_id, parent_id)
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


def read_tree(
    db: sqlite3.Connection, conversation_id: int, images_dir: Path, open_image: OpenImage
) -> tuple[list[Turn], int]:
    """A conversation's turns with every version of their answers, linked into their branches: (the
    first questions, the one shown); `open_image` makes each image."""
    turns: list[tuple[Turn, int | None]] = []
    rows = db.execute(
        "SELECT id, question, images, selected, parent_id, chosen FROM turns WHERE conversation_id = ?"
        " ORDER BY position",
        (conversation_id,),
    ).fetchall()
    for turn_id, question, images, selected, parent_id, chosen in rows:
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
        turn = Turn(question, opened, answers, min(selected, max(0, len(answers) - 1)), turn_id, chosen=chosen)
        turns.append((turn, parent_id))
    return branches.link(turns), branches.chosen_root(db, conversation_id)


def insert_every_turn(
    db: sqlite3.Connection, conversation: Conversation, turns: list[Turn], images: list[str]
) -> tuple[int, list[tuple[int, list[int]]]]:
    """A conversation again, as it is in memory: `turns` (every branch, each after its parent) with
    their answers (finished, or as far as they were written) and the branches shown; its row and,
    per turn, its row and its answers' rows."""
    conversation_id = insert_conversation(db, conversation.title)
    ids: list[tuple[int, list[int]]] = []
    row_of: dict[int, int] = {}  # id(turn) -> its row, for its children
    for turn, turn_images in zip(turns, images, strict=True):
        parent_id = row_of.get(id(turn.parent)) if turn.parent is not None else None
        turn_id = row_of[id(turn)] = insert_turn(db, conversation_id, turn.question, turn_images, parent_id)
        answer_ids = []
        for version, answer in enumerate(turn.versions):
            if answer.live or answer.interrupted:
                answer_ids.append(
                    insert_answer(db, turn_id, version, answer, STREAMING, None, None, partial_json(answer))
                )
            else:
                answer_ids.append(insert_answer(db, turn_id, version, answer, DONE, *finished_row(answer)))
        db.execute("UPDATE turns SET selected = ? WHERE id = ?", (turn.selected, turn_id))
        ids.append((turn_id, answer_ids))
    branches.keep_choices(db, conversation_id, conversation, row_of)
    return conversation_id, ids
