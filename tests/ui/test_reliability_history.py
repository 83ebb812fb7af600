"""The window with a damaged, unreadable or locked history (issue 12). It always opens: a damaged
history is kept aside and the banner says where; a locked one is read while another program writes,
waited for while it cannot be read, and answers asked meanwhile are saved once it is free; quitting
waits for them for a while and says where what could not be saved is kept.

Damaged histories run in subprocesses (today a damaged history aborted the process, and an
unreadable file needs a process without root's right to read anything)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from tests.fixtures.damage import (  # noqa: E402
    HISTORY_DAMAGE,
    Locker,
    damage_history,
    leave_leftovers,
    locked,
    write_history,
)  # noqa: E402

from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402

APP_DIR = Path(__file__).resolve().parents[2] / "app"
SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
TIMEOUT_MS = 120_000
SETTINGS = AppSettings(beam=1, max_stage_tokens=8, n_ctx=4096)

_WINDOW = textwrap.dedent("""
    import json, sys
    from PySide6.QtWidgets import QApplication
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow(settings=AppSettings(beam=1, max_stage_tokens=8, n_ctx=4096), save_settings_file=False)
    window.resize(1000, 620)
    window.show()

    def wait(cond):
        while not cond():
            app.processEvents()

    wait(lambda: window.model_ready or window.banner.isVisible())
    seen = {"notices": window.notices.messages(), "banner": window.notices.isVisible()}
    seen["sidebar"] = [r.title for r in window.session.conversations()]
    if sys.argv[1]:
        window.grab().save(sys.argv[1])
    window.ask("Asked after the damage?")
    wait(lambda: window.running is None)
    window.close()
    seen["thread_running"] = window.engine.engine_thread.isRunning()
    print(json.dumps(seen))
""")


def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions apply (root reads any file otherwise)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: an unreadable file cannot be made")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def _env(home: Path, tiny_model) -> dict[str, str]:
    demo = home.parent / "tiny-as-demo"
    demo.mkdir(exist_ok=True)
    for name, target in (("demo-text.gguf", tiny_model.text), ("demo-mmproj.gguf", tiny_model.mmproj)):
        if not (demo / name).exists():
            (demo / name).symlink_to(target)
    return {
        **os.environ,
        "STAGELENS_DEMO_MODEL": str(demo),
        "PYTHONPATH": str(APP_DIR),
        "STAGELENS_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
    }


@pytest.mark.parametrize("kind", HISTORY_DAMAGE)
def test_the_window_opens_on_a_damaged_history_and_says_where_it_is_kept(tmp_path, tiny_model, kind):
    home = tmp_path / "home"
    data = home / "data"
    write_history(data, conversations=6)
    damage_history(data, kind)
    path = data / "history.sqlite3"
    damaged = path.read_bytes() if path.is_file() and kind != "unreadable" else None
    prefix = _without_root_powers() if kind == "unreadable" else []
    SHOTS.mkdir(exist_ok=True)
    shot = str(SHOTS / "13-history-recovered.png") if kind == "garbage-pages" else ""
    result = subprocess.run(
        [*prefix, sys.executable, "-c", _WINDOW, shot],
        env=_env(home, tiny_model),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "QThread: Destroyed" not in result.stderr and "Traceback" not in result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    [aside] = [p for p in data.iterdir() if p.name.startswith("damaged-")]
    assert seen["banner"] and list(seen["notices"]) == ["recovered"]
    assert "could not be read" in seen["notices"]["recovered"] and str(aside) in seen["notices"]["recovered"]
    assert seen["sidebar"] == [], "a new history"
    assert saved_questions(data) == ["Asked after the damage?"] and seen["thread_running"] is False
    kept = aside / "history.sqlite3"
    if kind == "directory":
        assert (kept / "something").read_text() == "not a database"
    elif kind == "unreadable":
        kept.chmod(0o600)
        assert kept.stat().st_size > 0 and (aside / "images").is_dir()
    else:
        assert kept.read_bytes() == damaged, "the saved copy is the file as it was"


@pytest.mark.parametrize("kind", ["garbage", "directory"])
def test_ask_chat_on_a_damaged_history_says_so_in_one_line(tmp_path, tiny_model, scene_path, kind):
    home = tmp_path / "home"
    write_history(home / "data", conversations=2)
    damage_history(home / "data", kind)
    model = ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stagelens",
            "ask",
            str(scene_path),
            "-q",
            "Still saved?",
            "--chat",
            "new",
            *model,
            "--beam",
            "1",
            "--max-stage-tokens",
            "8",
        ],
        env=_env(home, tiny_model),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    [aside] = [p for p in (home / "data").iterdir() if p.name.startswith("damaged-")]
    lines = [line for line in result.stderr.strip().splitlines() if "history" in line]
    assert len(lines) == 1 and lines[0].startswith("stagelens: the history could not be read"), result.stderr
    assert str(aside) in lines[0] and "a new history was started" in lines[0]
    assert "saved in conversation 1" in result.stderr


# ------------------------------------------------------------------ locks (in this process)
@pytest.fixture()
def home_window(qtbot, tiny_model, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("STAGELENS_HOME", str(home))
    model = ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test")

    def make() -> MainWindow:
        window = MainWindow(settings=SETTINGS, model=model, save_settings_file=False)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
        assert window.model_ready
        return window

    make.data = home / "data"  # type: ignore[attr-defined]
    return make


def saved_questions(data: Path) -> list[str]:
    with sqlite3.connect(data / "history.sqlite3") as db:
        return [q for (q,) in db.execute("SELECT question FROM turns ORDER BY id")]


def ask(qtbot, window: MainWindow, question: str) -> None:
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask(question)


def test_the_window_removes_what_a_program_killed_while_writing_left(home_window, qtbot, scene_path):
    leave_leftovers(home_window.data, scene_path)
    images = home_window.data / "images"
    assert sorted(p.suffix for p in images.iterdir()) == [".png", ".tmp"], "an orphan image, a half-written one"
    assert len(saved_questions(home_window.data)) == 1
    window = home_window()
    assert list(images.iterdir()) == [], "the temporary file (a dotfile) and the orphan are gone"
    assert [r.title for r in window.session.conversations()] == ["kept"], "the conversation without a turn is gone"
    window.add_image_paths([scene_path])
    ask(qtbot, window, "Saved after the cleanup?")
    assert [p.name.startswith(".") for p in images.iterdir()] == [False], "its image, and no temporary file"


def test_a_history_another_program_writes_to_opens_at_once_and_saves_when_free(home_window, qtbot):
    write_history(home_window.data, conversations=2)
    with locked(home_window.data / "history.sqlite3", "write"):
        started = time.monotonic()
        window = home_window()
        assert time.monotonic() - started < 5, "the window does not wait for the lock"
        assert [r.title for r in window.session.conversations()] == ["Saved chat 1", "Saved chat 0"]
        ask(qtbot, window, "First while locked?")
        ask(qtbot, window, "Second while locked?")
        label = window.history_watch.pending_label
        assert label.isVisible() and "Not saved yet" in label.text() and "locked" in label.toolTip()
        qtbot.wait(max(0, int((started + 6.5 - time.monotonic()) * 1000)))  # longer than SQLite's usual 5 s
        assert saved_questions(home_window.data) == ["question 0?", "question 1?"], "nothing lands while locked"
    qtbot.waitUntil(lambda: not window.session.store_waiting, timeout=10_000)
    assert saved_questions(home_window.data)[2:] == ["First while locked?", "Second while locked?"]
    assert not label.isVisible()
    turns = window.history.load_conversation(window.conversation.id, lambda *a: None).turns
    assert [t.answer.trace.conclusion for t in turns] == [t.answer.conclusion for t in window.conversation.turns]


def test_a_history_locked_for_reading_is_retried_until_it_opens(home_window, qtbot):
    write_history(home_window.data, conversations=2)
    with locked(home_window.data / "history.sqlite3", "exclusive"):
        window = home_window()
        assert "locked by another program" in window.notices.messages()["locked"]
        assert window.session.conversations() == [], "nothing can be read yet"
        ask(qtbot, window, "Asked while it could not be read?")
        SHOTS.mkdir(exist_ok=True)
        window.grab().save(str(SHOTS / "14-history-locked.png"))
    qtbot.waitUntil(lambda: "locked" not in window.notices.messages(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.session.store_waiting, timeout=10_000)
    titles = [r.title for r in window.session.conversations()]
    assert sorted(titles) == ["Asked while it could not be read?", "Saved chat 0", "Saved chat 1"]


def test_quitting_waits_for_a_locked_history_then_says_where_the_answer_is_kept(home_window, qtbot, monkeypatch):
    from stagelens.ui import history_watch

    monkeypatch.setattr(history_watch, "QUIT_WAIT_S", 1.5)
    window = home_window()
    ask(qtbot, window, "Saved before the lock?")
    with locked(home_window.data / "history.sqlite3", "write"):
        ask(qtbot, window, "Asked while locked?")
        started = time.monotonic()
        window.close()
        waited = time.monotonic() - started
    assert 1.4 < waited < 10
    box = window.history_watch.quit_notice
    assert box is not None and box.isVisible()
    [rescue] = (home_window.data / "unsaved").iterdir()
    assert str(rescue) in box.text() and "still in the history" in box.text()
    [kept] = json.loads(rescue.read_text())
    assert [t["question"] for t in kept["turns"]] == ["Saved before the lock?", "Asked while locked?"]
    assert saved_questions(home_window.data) == ["Saved before the lock?"]
    box.close()


def test_ask_chat_waits_for_a_history_another_program_has_locked(tmp_path, tiny_model, scene_path):
    home = tmp_path / "home"
    write_history(home / "data", conversations=2)
    model = ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj), "--beam", "1"]
    locker = Locker(home / "data" / "history.sqlite3", "write")
    timer = threading.Timer(7.0, locker.release)  # longer than SQLite's usual 5 s
    timer.start()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "stagelens",
                "ask",
                str(scene_path),
                "-q",
                "Saved once it is free?",
                "--chat",
                "new",
                *model,
                "--max-stage-tokens",
                "8",
            ],
            env=_env(home, tiny_model),
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        timer.join()
    assert result.returncode == 0, result.stderr
    assert "saved in conversation 3" in result.stderr and "Traceback" not in result.stderr
    assert saved_questions(home / "data")[-1] == "Saved once it is free?"


_FAILING_START = textwrap.dedent("""
    import sys
    from stagelens.cli import main
    from stagelens.ui.main_window import MainWindow

    def broken(self):
        raise RuntimeError("a view could not be built")

    MainWindow._build_ui = broken  # fails after the engine thread has started
    sys.exit(main([]))
""")


def test_a_window_that_fails_to_start_leaves_no_engine_thread_running(tmp_path, tiny_model):
    result = subprocess.run(
        [sys.executable, "-c", _FAILING_START],
        env=_env(tmp_path / "home", tiny_model),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1, result.stderr
    assert "QThread: Destroyed" not in result.stderr
    assert "stagelens: error: the window could not start: a view could not be built" in result.stderr
