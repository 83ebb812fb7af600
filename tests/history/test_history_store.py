"""History store: conversations, turns and answer versions in SQLite (WAL), images stored once under
the digest of the pixels the model was sent; it stores and returns the session's own types."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stagelens.engine import ModelInfo, Stage, Stats, Trace
from stagelens.history import HistoryStore
from stagelens.images import ChatImage, ImageLoader
from stagelens.session import Answer, Turn

APP_DIR = Path(__file__).resolve().parents[2] / "app"
LOADER = ImageLoader(inline=True)


def png(color: tuple[int, int, int], size: tuple[int, int] = (10, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def image(data: bytes, name: str = "a.png", suffix: str = ".png", max_side: int = 768) -> ChatImage:
    loaded = LOADER.from_bytes(data, name, suffix, max_side)
    assert loaded.ok, loaded.error
    return loaded


def trace(conclusion: str, question: str = "what?") -> Trace:
    return Trace(
        question=question,
        images=[],
        settings={"beam": 1, "seed": 3},
        stages=[Stage("summary", "a hidden caption"), Stage("conclusion", conclusion)],
        conclusion=conclusion,
        cancelled=False,
        stats=Stats(),
        model=ModelInfo("text.gguf", "mmproj.gguf", 1, "CPU"),
        assistant_text=f"<CONCLUSION>{conclusion}</CONCLUSION>",
    )


def reopen(store: HistoryStore, conversation_id: int, max_side: int = 768) -> list[Turn]:
    conversation = store.load_conversation(conversation_id, lambda p, n, s: LOADER.from_history(p, n, s, max_side))
    assert conversation is not None
    return conversation.turns


def test_turns_and_versions_round_trip(tmp_path):
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("Shapes")
    picture = image(png((200, 10, 10)), "a.png", ".PNG", max_side=16)
    first = Answer(trace=trace("one"))
    turn = store.add_turn(conv, Turn("what?", [picture]), first)
    assert first.created > 0
    store.add_turn(conv, Turn("and?", []), Answer(error="context overflow"))
    assert store.add_answer(turn, Answer(trace=trace("two"))) == 1
    store.close()

    store = HistoryStore(tmp_path)
    turns = reopen(store, conv, max_side=16)
    assert [t.question for t in turns] == ["what?", "and?"]
    assert [a.trace.conclusion for a in turns[0].versions] == ["one", "two"] and turns[0].selected == 1
    assert turns[0].id == turn and turns[0].answer.trace.assistant_text == "<CONCLUSION>two</CONCLUSION>"
    [again] = turns[0].images
    assert again.wait() is not None and again.name == "a.png" and again.suffix == ".png"
    assert again.data == picture.data and again.digest == picture.digest, "the same bytes, the same digest"
    assert [p.name for p in store.image_files()] == [f"{picture.digest}.png"]
    assert turns[1].answer.trace is None and turns[1].answer.error == "context overflow"
    store.select_answer(turn, 0)
    assert reopen(store, conv)[0].selected == 0
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unreadable_saved_answer_or_a_missing_image_is_said_so(tmp_path):
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("Broken")
    picture = image(png((1, 2, 3)))
    turn = store.add_turn(conv, Turn("q", [picture]), Answer(trace=trace("fine")))
    store._db.execute("UPDATE answers SET trace = '{\"schema\": 99}' WHERE turn_id = ?", (turn,))
    (store.images_dir / f"{picture.digest}.png").unlink()
    [reopened] = reopen(store, conv)
    assert reopened.answer.trace is None and "could not be read" in reopened.answer.error
    [missing] = reopened.images
    missing.wait()
    assert not missing.ok and missing.error == "a.png is missing from the history"


def test_only_finished_answers_and_readable_images_are_stored(tmp_path):
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("x")
    with pytest.raises(ValueError, match="still being written"):
        store.add_turn(conv, Turn("q", []), Answer(live=True))
    broken = LOADER.from_bytes(b"not an image", "bad.png", ".png", 768)
    turn = store.add_turn(conv, Turn("q", [image(png((9, 9, 9))), broken]), Answer(error="failed"))
    (row,) = store._db.execute("SELECT images FROM turns WHERE id = ?", (turn,)).fetchone()
    assert [i["name"] for i in json.loads(row)] == ["a.png"]


def test_same_image_is_stored_once(tmp_path):
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("twice")
    data = png((5, 6, 7))
    for name in ("a.png", "b.png"):
        store.add_turn(conv, Turn("q", [image(data, name)]), Answer(error="x"))
    assert len(store.image_files()) == 1


def test_old_rows_named_by_file_hash_still_open(tmp_path):
    """Histories written before images were named by their pixel digest."""
    store = HistoryStore(tmp_path)
    conv = store.create_conversation("old")
    data = png((40, 50, 60))
    (store.images_dir / "0123abcd.png").write_bytes(data)
    store._db.execute(
        "INSERT INTO turns (conversation_id, position, question, images) VALUES (?, 0, 'old?', ?)",
        (conv, json.dumps([{"digest": "0123abcd", "name": "old.png", "suffix": ".png", "original_size": [10, 20]}])),
    )
    [turn] = reopen(store, conv)
    assert turn.images[0].wait() is not None and turn.images[0].data == data and turn.versions == []


def test_search_rename_delete(tmp_path):
    store = HistoryStore(tmp_path)
    first = store.create_conversation("Circles")
    second = store.create_conversation("Other")
    store.add_turn(
        second,
        Turn("how many squares_100%?", [image(png((1, 1, 1)))]),
        Answer(trace=trace("three triangles")),
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
    assert store.load_conversation(second, lambda *a: None) is None
    assert store.image_files() == [], "images nobody uses any more are removed"


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from stagelens.history import HistoryStore
from stagelens.session import Answer, Turn
store = HistoryStore(Path(sys.argv[1]))
conv = store.create_conversation("kept")
store.add_turn(conv, Turn("finished", []), Answer(error="no model"))
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
    assert result.returncode == -9, result.stderr
    store = HistoryStore(tmp_path)
    (row,) = store.list_conversations()
    assert row.title == "kept" and [t.question for t in reopen(store, row.id)] == ["finished"]


def test_database_is_under_the_data_dir():
    store = HistoryStore()
    assert store.db_path.parent.name == "data"
    assert isinstance(store._db, sqlite3.Connection)
