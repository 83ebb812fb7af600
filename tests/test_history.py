"""History store: conversations, turns and answer versions in SQLite (WAL), images by content hash."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from stagelens.history import AnswerRecord, HistoryStore

APP_DIR = Path(__file__).resolve().parents[1] / "app"


def test_turns_and_versions_round_trip(tmp_path):
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("Shapes")
    image = store.store_image(b"png bytes", "a.png", ".PNG", (10, 20), (5, 10))
    assert image.digest == hashlib.sha256(b"png bytes").hexdigest()
    assert store.image_path(image).read_bytes() == b"png bytes" and image.suffix == ".png"
    turn = store.add_turn(conv, "what?", [image], AnswerRecord('{"x": 1}'))
    store.add_turn(conv, "and?", [], AnswerRecord(None, "context overflow"))
    assert store.add_answer(turn, AnswerRecord('{"x": 2}')) == 1
    store.close()

    store = HistoryStore(tmp_path)
    turns = store.turns(conv)
    assert [t.question for t in turns] == ["what?", "and?"]
    assert [a.trace_json for a in turns[0].answers] == ['{"x": 1}', '{"x": 2}'] and turns[0].selected == 1
    assert turns[0].images == [image]
    assert turns[1].answers[0].error == "context overflow"
    store.select_answer(turn, 0)
    assert store.turns(conv)[0].selected == 0
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_image_is_stored_once(tmp_path):
    store = HistoryStore(tmp_path)
    a = store.store_image(b"same", "a.png", ".png")
    b = store.store_image(b"same", "b.png", ".png")
    assert a.file_name == b.file_name and len(list(store.images_dir.iterdir())) == 1


def test_search_rename_delete(tmp_path):
    store = HistoryStore(tmp_path)
    first = store.create_conversation("Circles")
    second = store.create_conversation("Other")
    store.add_turn(
        second,
        "how many squares_100%?",
        [store.store_image(b"x", "x.png", ".png")],
        AnswerRecord('{"conclusion": "three triangles", "stages": [{"text": "a hidden caption"}]}'),
    )
    assert [r.id for r in store.list_conversations()] == [second, first]
    assert [r.title for r in store.list_conversations("circ")] == ["Circles"]
    assert [r.title for r in store.list_conversations("squares_100%")] == ["Other"]
    assert [r.title for r in store.list_conversations("triangles")] == ["Other"]
    assert store.list_conversations("stages") == [], "JSON keys are not searched"
    assert store.list_conversations("hidden caption") == [], "only the conclusion of an answer is searched"
    assert store.list_conversations("_") == [r for r in store.list_conversations() if r.id == second]
    store.rename(first, "Round things")
    assert store.conversation(first).title == "Round things"
    store.delete(second)
    assert [r.id for r in store.list_conversations()] == [first]
    assert store.turns(second) == []
    assert list(store.images_dir.iterdir()) == [], "images nobody uses any more are removed"


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from stagelens.history import AnswerRecord, HistoryStore
store = HistoryStore(Path(sys.argv[1]))
conv = store.create_conversation("kept")
store.add_turn(conv, "finished", [], AnswerRecord("{}"))
store._db.execute("BEGIN IMMEDIATE")
store._db.execute("INSERT INTO turns (conversation_id, position, question, images) VALUES (?, 1, 'half', '[]')",
                  (conv,))
os.kill(os.getpid(), 9)
"""


def test_a_kill_mid_write_loses_only_the_unfinished_turn(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path)],
        capture_output=True,
        env={"PYTHONPATH": str(APP_DIR)},
        timeout=60,
    )
    assert result.returncode == -9
    store = HistoryStore(tmp_path)
    (row,) = store.list_conversations()
    assert row.title == "kept" and [t.question for t in store.turns(row.id)] == ["finished"]


def test_database_is_under_the_data_dir():
    store = HistoryStore()
    assert store.db_path.parent.name == "data"
    assert isinstance(store._db, sqlite3.Connection)
