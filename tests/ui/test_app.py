"""The window as a program, in subprocesses (pytest-qt owns this process's QApplication):
--self-test, no display, and history that survives a restart and a kill mid-answer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

APP_DIR = Path(__file__).resolve().parents[2] / "app"
TIMEOUT_S = 180


@pytest.fixture()
def tiny_as_demo(tiny_model, tmp_path) -> Path:
    """The tiny test model dressed as the demo model, so the default model answers in a second."""
    folder = tmp_path / "demo-model"
    folder.mkdir()
    (folder / "demo-text.gguf").symlink_to(tiny_model.text)
    (folder / "demo-mmproj.gguf").symlink_to(tiny_model.mmproj)
    return folder


def _env(home: Path, demo: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    if demo is not None:
        env["STAGELENS_DEMO_MODEL"] = str(demo)
    env["PYTHONPATH"] = str(APP_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env["STAGELENS_HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_self_test_answers_and_exits_zero(tmp_path, tiny_as_demo):
    result = _run(["-m", "stagelens", "--self-test"], _env(tmp_path, tiny_as_demo))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("stagelens self-test: ok") and "3 stages" in line and "StageLens demo" in line
    assert not (tmp_path / "data" / "history.sqlite3").exists(), "the self-test leaves the user's history alone"


def test_self_test_reports_a_broken_model(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "demo-text.gguf").write_bytes(b"broken")
    (demo / "demo-mmproj.gguf").write_bytes(b"broken")
    result = _run(["-m", "stagelens", "--self-test"], _env(tmp_path / "home", STAGELENS_DEMO_MODEL=str(demo)))
    assert result.returncode == 1
    assert "self-test: FAILED" in result.stderr and "Traceback" not in result.stderr


_SELF_TEST_WITH_A_FAILING_SLOT = textwrap.dedent("""
    import sys
    from stagelens.cli import main
    from stagelens.ui.answer_view import AnswerCard

    update_live = AnswerCard.update_live

    def broken(self):  # raises inside a guarded slot: the window carries on, the self-test must not pass
        update_live(self)
        raise RuntimeError("boom in a slot")

    AnswerCard.update_live = broken
    sys.exit(main(["--self-test"]))
""")


def test_self_test_fails_when_a_slot_raised(tmp_path, tiny_as_demo):
    result = _run(["-c", _SELF_TEST_WITH_A_FAILING_SLOT], _env(tmp_path, tiny_as_demo))
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stderr.splitlines() if "self-test:" in x)
    assert "self-test: FAILED" in line and "boom in a slot" in line


def test_without_a_display_it_says_so_in_one_line(tmp_path):
    env = _env(tmp_path)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    result = _run(["-m", "stagelens"], env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no display" in result.stderr
    assert "Traceback" not in result.stderr


_SESSION = textwrap.dedent("""
    import os, sys
    from PySide6.QtWidgets import QApplication
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    app = QApplication([])
    step = sys.argv[1]
    window = MainWindow(settings=AppSettings(beam=2, max_stage_tokens=12, n_ctx=4096))
    window.show()

    def wait(cond):
        while not cond():
            app.processEvents()

    wait(lambda: window.model_ready or window.banner.isVisible())
    assert window.model_ready, window.banner_text.text()
    if step == "first":
        from stagelens.resources import sample_images
        window.add_image_paths([sample_images()[0]])
        window.ask("What shapes are there?")
        wait(lambda: window.running is None)
        window.settings = AppSettings(preset="custom", beam=1, max_stage_tokens=700, n_ctx=4096)
        # a second question, killed while it is being answered
        window.live_updated.connect(lambda kind, stage: os.kill(os.getpid(), 9))
        window.ask("And now describe them at length.")
        wait(lambda: False)
    else:
        rows = window.history.list_conversations()
        print("conversations", len(rows), rows[0].title)
        window.open_conversation(rows[0].id)
        turn = window.conversation.turns[0]
        wait(lambda: not any(i.decoding for i in turn.images))  # read from the history in the background
        card = window._card_for(turn)
        card.panel.set_expanded(True)
        print("turns", len(window.conversation.turns))
        print("unfinished", [t.answer.interrupted for t in window.conversation.turns])
        print("images", [i.name for i in turn.images], turn.images[0].ok)
        print("digest", turn.images[0].digest)
        print("stages", card.panel.stage_names())
        print("conclusion", card.conclusion.text() == turn.answer.trace.conclusion != "")
        window.close()
""")


def test_history_survives_a_restart_and_a_kill_mid_answer(tmp_path, tiny_as_demo):
    env = _env(tmp_path / "home", tiny_as_demo)
    first = _run(["-c", _SESSION, "first"], env)
    assert first.returncode == -9, first.stderr
    second = _run(["-c", _SESSION, "second"], env)
    assert second.returncode == 0, second.stderr
    out = dict(line.split(" ", 1) for line in second.stdout.strip().splitlines())
    assert out["conversations"] == "1 What shapes are there?"
    assert out["turns"] == "2", "the finished answer is kept, and the killed question (unfinished)"
    from stagelens.images import load_image
    from stagelens.resources import sample_images
    from stagelens.settings import AppSettings

    assert out["images"] == f"['{sample_images()[0].name}'] True"
    assert out["stages"] == "['summary', 'caption', 'reasoning']"
    assert out["conclusion"] == "True" and out["unfinished"] == "[False, True]"
    images = list((tmp_path / "home" / "data" / "images").iterdir())
    sent = load_image(sample_images()[0], max_side=AppSettings().image_max_side)
    assert out["digest"] == sent.digest, "the reopened image is the one the model was sent"
    assert [p.stem for p in images] == [sent.digest], "stored once, under the digest of the pixels sent"
