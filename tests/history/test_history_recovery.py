"""The history store on its own (issue 12): a damaged, unreadable or locked file, a history written
by the previous StageLens, answers written ahead, and the leftovers a killed program leaves."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fixtures.damage import HISTORY_DAMAGE, damage_history, leave_leftovers, locked, trace, write_history

from stagelens.history import SCHEMA_VERSION, HistoryStore
from stagelens.images import ImageLoader
from stagelens.session import Answer, Conversation, Turn

FIXTURE_V1 = Path(__file__).resolve().parents[1] / "fixtures" / "history-v1"
APP_DIR = Path(__file__).resolve().parents[2] / "app"
LOADER = ImageLoader(inline=True)


def reopen(store: HistoryStore, conversation_id: int) -> list[Turn]:
    conversation = store.load_conversation(conversation_id, lambda p, n, s: LOADER.from_history(p, n, s, 768))
    assert conversation is not None
    return conversation.turns


@pytest.mark.parametrize("kind", [k for k in HISTORY_DAMAGE if k != "unreadable"])
def test_a_damaged_history_is_kept_aside_and_a_new_one_opens(tmp_path, kind):
    original = write_history(tmp_path)
    (tmp_path / "images" / "kept.png").write_bytes(b"an image of the old history")
    assert damage_history(tmp_path, kind) == original
    path = tmp_path / "history.sqlite3"
    damaged = path.read_bytes() if path.is_file() else None
    store = HistoryStore(tmp_path)
    assert store.ready and store.list_conversations() == []
    [notice] = store.notices
    assert notice.kind == "recovered" and notice.path is not None and str(notice.path) in notice.message
    aside = notice.path
    assert aside.parent == tmp_path and aside.name.startswith("damaged-")
    if kind == "directory":
        assert (aside / "history.sqlite3" / "something").read_text() == "not a database"
    else:
        assert (aside / "history.sqlite3").read_bytes() == damaged, "kept as it was, byte for byte"
    assert (aside / "images" / "kept.png").read_bytes() == b"an image of the old history", "images go with it"
    conversation = Conversation(title="after")
    store.start_turn(conversation, Turn("new?", []), Answer(live=True))
    assert [c.title for c in store.list_conversations()] == ["after"]


def test_the_saved_copy_holds_the_damaged_bytes_and_is_never_overwritten(tmp_path):
    write_history(tmp_path)
    damage_history(tmp_path, "garbage", seed=1)
    garbage_one = (tmp_path / "history.sqlite3").read_bytes()
    one = HistoryStore(tmp_path)
    one.close()
    (tmp_path / "history.sqlite3").write_bytes(garbage_one[::-1])  # damaged again, in the same second
    two = HistoryStore(tmp_path)
    two.close()
    copies = sorted(p for p in tmp_path.iterdir() if p.name.startswith("damaged-"))
    assert len(copies) == 2
    assert (copies[0] / "history.sqlite3").read_bytes() == garbage_one
    assert (copies[1] / "history.sqlite3").read_bytes() == garbage_one[::-1]


def test_damage_met_after_opening_resets_the_store_and_says_where_the_copy_is(tmp_path, monkeypatch):
    """A history too big to check at open is trusted; damage is met by a later query."""
    write_history(tmp_path, conversations=30)
    path = tmp_path / "history.sqlite3"
    data = bytearray(path.read_bytes())
    data[3 * 4096 :] = os.urandom(len(data) - 3 * 4096)
    path.write_bytes(bytes(data))
    from stagelens.history import recovery

    monkeypatch.setattr(recovery, "QUICK_CHECK_MAX_BYTES", 0)
    store = HistoryStore(tmp_path)
    assert store.ready and store.notices == []
    from stagelens.session import StoreResetError

    with pytest.raises(StoreResetError) as reset:
        store.list_conversations("question")  # reads every turn
    assert reset.value.notice.kind == "recovered" and reset.value.notice.path.is_dir()
    assert (reset.value.notice.path / "history.sqlite3").read_bytes() == bytes(data)
    assert store.ready and store.list_conversations() == [], "a new, empty history"


def test_the_check_at_open_is_bounded_by_the_size_of_the_history(tmp_path, monkeypatch):
    write_history(tmp_path, conversations=40)
    from stagelens.history import recovery

    ran: list[bool] = []
    real = recovery.quick_check
    monkeypatch.setattr(recovery, "quick_check", lambda db, size: ran.append(real(db, size)) or True)
    HistoryStore(tmp_path).close()
    monkeypatch.setattr(recovery, "QUICK_CHECK_MAX_BYTES", (tmp_path / "history.sqlite3").stat().st_size - 1)
    store = HistoryStore(tmp_path)
    assert ran == [True, False] and store.ready and store.notices == []
    assert len(store.list_conversations()) == 40


def test_a_history_locked_for_reading_is_waited_for_then_opened_later(tmp_path):
    write_history(tmp_path, conversations=2)
    with locked(tmp_path / "history.sqlite3", "exclusive"):
        started = time.monotonic()
        store = HistoryStore(tmp_path, open_wait_s=0.5)
        assert 0.4 < time.monotonic() - started < 5
        assert not store.ready and [n.kind for n in store.notices] == ["locked"]
        from stagelens.session import StoreBusyError

        with pytest.raises(StoreBusyError):
            store.list_conversations()
        assert store.retry_open() is None
    notice = store.retry_open()
    assert notice is not None and notice.kind == "available"
    assert len(store.list_conversations()) == 2


def test_a_write_lock_does_not_keep_the_history_from_opening(tmp_path):
    write_history(tmp_path, conversations=2)
    with locked(tmp_path / "history.sqlite3", "write"):
        started = time.monotonic()
        store = HistoryStore(tmp_path)
        assert time.monotonic() - started < 2 and store.ready and store.notices == []
        assert len(store.list_conversations()) == 2, "WAL readers are not blocked by a writer"
        from stagelens.session import StoreBusyError

        with pytest.raises(StoreBusyError, match="locked by another program"):
            store.start_turn(Conversation(title="x"), Turn("q", []), Answer(live=True))
    store.start_turn(Conversation(title="x"), Turn("q", []), Answer(live=True))


def test_a_history_written_by_the_previous_version_is_migrated(tmp_path):
    """tests/fixtures/history-v1 was written by StageLens at commit a7eaf3d (schema 1)."""
    folder = tmp_path / "data"
    shutil.copytree(FIXTURE_V1, folder)
    assert sqlite3.connect(folder / "history.sqlite3").execute("PRAGMA user_version").fetchone() == (1,)
    store = HistoryStore(folder)
    assert store.migrated_from == 1 and store.notices == []
    assert store._db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert [c.title for c in store.list_conversations()] == ["Colours", "Shapes"]
    shapes = next(c.id for c in store.list_conversations() if c.title == "Shapes")
    first, second = reopen(store, shapes)
    assert [a.trace.conclusion for a in first.versions] == ["a red square", "a red block"] and first.selected == 1
    assert first.versions[1].trace.assistant_tokens == [5, 6, 7] and not first.versions[1].interrupted
    assert first.images[0].wait() is not None and first.images[0].name == "red.png"
    assert second.answer.error == "the context is full"
    assert len(store.image_files()) == 2, "no image of a migrated history is an orphan"
    # and it takes answers written ahead from now on
    answer = Answer(live=True)
    store.start_answer(first, answer)
    answer.on_event("text", "summary", 0, "partly")
    store.save_partial(first, answer)
    store.close()
    again = HistoryStore(folder)
    assert again.migrated_from == SCHEMA_VERSION
    reopened = reopen(again, shapes)[0]
    assert (
        len(reopened.versions) == 3 and reopened.answer.interrupted and reopened.answer.live_text("summary") == "partly"
    )


def test_answers_are_written_ahead_and_reopen_unfinished(tmp_path):
    store = HistoryStore(tmp_path)
    conversation = Conversation(title="Shapes")
    turn = Turn("How many?", [])
    answer = Answer(live=True)
    store.start_turn(conversation, turn, answer)
    assert conversation.id and turn.id and answer.id, "the first question creates its conversation"
    answer.on_event("stage_begin", "summary", 2, "")
    answer.on_event("text", "summary", 0, "two shapes")
    answer.on_event("text", "summary", 1, "three")
    answer.on_event("stage_end", "summary", 1, "")
    answer.on_event("stage_begin", "caption", 2, "")
    answer.on_event("text", "caption", 0, "a red")
    store.save_partial(turn, answer)
    [reopened] = reopen(HistoryStore(tmp_path), conversation.id)
    unfinished = reopened.answer
    assert unfinished.interrupted and unfinished.trace is None and unfinished.error is None
    assert unfinished.texts == {("summary", 0): "two shapes", ("summary", 1): "three", ("caption", 0): "a red"}
    assert unfinished.unfinished_stages == [("summary", "three"), ("caption", "a red")], "the winner, then the rest"
    answer.trace, answer.live = trace("two"), False
    store.finish_answer(turn, answer)
    [done] = reopen(store, conversation.id)
    assert done.answer.trace.conclusion == "two" and not done.answer.interrupted
    row = store._db.execute("SELECT state, partial FROM answers WHERE id = ?", (answer.id,)).fetchone()
    assert row == ("done", None)


def test_leftovers_of_a_killed_program_are_removed_at_start(tmp_path, scene_path):
    leave_leftovers(tmp_path, scene_path)
    images = tmp_path / "images"
    assert len(list(images.glob(".half.png.*.tmp"))) == 1 and len(list(images.glob("*.png"))) == 1
    store = HistoryStore(tmp_path)
    assert (store.cleaned.temporary_files, store.cleaned.orphan_images, store.cleaned.empty_conversations) == (1, 1, 1)
    assert list(images.iterdir()) == [] and [c.title for c in store.list_conversations()] == ["kept"]


_RUNNING = """
import sys, time
from pathlib import Path
from stagelens.history import SCHEMA_VERSION, HistoryStore
store = HistoryStore(Path(sys.argv[1]))
print("open", flush=True)
sys.stdin.readline()
"""


def test_leftovers_another_running_program_may_be_writing_are_left_alone(tmp_path, scene_path):
    leave_leftovers(tmp_path, scene_path)
    images = tmp_path / "images"
    running = subprocess.Popen(
        [sys.executable, "-c", _RUNNING, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(APP_DIR)},
    )
    try:
        assert running.stdout.readline().strip() == "open"  # it cleaned (it was alone) and holds the lock
        assert list(images.iterdir()) == []
        for name in ("fresh.png", ".fresh.png.abc.tmp"):
            (images / name).write_bytes(b"being written by the running program")
        stale = images / ".stale.png.xyz.tmp"
        stale.write_bytes(b"left a long time ago")
        long_ago = time.time() - 3 * 24 * 3600  # older than anything a running program is writing
        os.utime(stale, (long_ago, long_ago))
        store = HistoryStore(tmp_path)
        assert not store._instance.sole
        assert sorted(p.name for p in images.iterdir()) == [".fresh.png.abc.tmp", "fresh.png"]
        assert store.cleaned.temporary_files == 1 and store.cleaned.orphan_images == 0
    finally:
        running.stdin.write("\n")
        running.stdin.flush()
        running.wait(30)


def test_a_partial_answer_written_ahead_keeps_the_images_read_so_far(tmp_path, scene_png):
    store = HistoryStore(tmp_path)
    image = LOADER.from_bytes(scene_png, "scene.png", ".png", 768)
    conversation, turn, answer = Conversation(title="x"), Turn("q", [image]), Answer(live=True)
    store.start_turn(conversation, turn, answer)
    (row,) = store._db.execute("SELECT images FROM turns WHERE id = ?", (turn.id,)).fetchone()
    assert [i["name"] for i in json.loads(row)] == ["scene.png"]
    assert [p.name for p in store.image_files()] == [f"{image.digest}.png"]
