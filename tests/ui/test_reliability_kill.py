"""The window killed (kill -9) while it answers (issue 12), in real subprocesses: the question being
answered is kept with what was written of its answer, marked unfinished, with a Regenerate button;
a kill during the first question still leaves its conversation. The many-kills soak is
`python -m stagelens_dev.benchmarks.kill_soak`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

APP_DIR = Path(__file__).resolve().parents[2] / "app"
SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
TIMEOUT_S = 180
FIRST_QUESTION = "What color is the square?"

_WINDOW = textwrap.dedent("""
    import json, os, sys
    from PySide6.QtWidgets import QApplication
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    app = QApplication([])
    step, arg = sys.argv[1], sys.argv[2]
    budget = int(os.environ.get("TEST_STAGE_TOKENS", "12"))
    window = MainWindow(settings=AppSettings(beam=2, max_stage_tokens=budget, n_ctx=4096), save_settings_file=False)
    window.resize(1000, 720)
    window.show()

    def wait(cond):
        while not cond():
            app.processEvents()

    wait(lambda: window.model_ready or window.banner.isVisible())
    assert window.model_ready, window.banner_text.text()
    if step in ("kill", "kill-streaming"):
        rows = window.history.list_conversations()
        if rows:
            window.open_conversation(rows[0].id)
        else:
            from stagelens.resources import sample_images
            window.add_image_paths([next(p for p in sample_images() if p.name == "scene-1.png")])
        ended, texts = [], []
        if step == "kill-streaming":  # a second passes between two pieces of text: checkpoints by time
            import stagelens.session.session as session_module
            now = [0.0]
            session_module.clock = lambda: now[0]

        def on_update(kind, stage):
            if step == "kill" and kind == "stage_end":  # arg: how many stages end before the kill
                ended.append(stage)
                if len(ended) == int(arg):
                    os.kill(os.getpid(), 9)
            elif step == "kill-streaming":  # arg: how many pieces of text before the kill
                # the event before this one was text too: a second has passed since any checkpoint
                # before it, so this one was checkpointed before it was shown
                texts.append(kind)
                if kind != "text":
                    return
                now[0] += 1.1
                shown = window.conversation.turns[-1].answer.live_text(stage)
                if texts.count("text") >= int(arg) and texts[-2:] == ["text", "text"] and shown:
                    print(json.dumps({"stage": stage, "text": shown}), flush=True)
                    os.kill(os.getpid(), 9)

        window.live_updated.connect(on_update)
        window.ask(os.environ.get("TEST_QUESTION") or "Question %d?" % (len(window.conversation.turns) + 1))
        wait(lambda: False)
    rows = window.history.list_conversations()
    window.open_conversation(rows[0].id)
    turns = window.conversation.turns
    wait(lambda: not any(i.decoding for t in turns for i in t.images))
    card = window._card_for(turns[-1])
    card.panel.set_expanded(True)
    for _ in range(5):  # the thumbnail that replaced "Loading…" is laid out
        app.processEvents()
    seen = {
        "conversations": [r.title for r in rows],
        "questions": [t.question for t in turns],
        "unfinished": [[v.interrupted for v in t.versions] for t in turns],
        "selected": [t.selected for t in turns],
        "stages": card.panel.stage_names(),
        "stage_texts": [s.body.text() for s in card.panel.sections],
        "stage_titles": [s.title.text() for s in card.panel.sections],
        "status": card.status_label.text(),
        "regenerate": [card.regenerate_button.isVisible(), card.regenerate_button.isEnabled()],
        "images_ok": [i.ok for t in turns for i in t.images],
        "thumbs": [[t.placeholder, t.isVisible()] for t in card.thumbs],
    }
    if arg:
        window.grab().save(arg)
    card.regenerate_button.click()
    wait(lambda: window.running is None)
    answer = turns[-1].answer
    seen["regenerated"] = [len(turns[-1].versions), turns[-1].selected, answer.trace is not None]
    print(json.dumps(seen))
    window.close()
""")


@pytest.fixture()
def run_window(tiny_model, tmp_path):
    """Run a step of the window in its own process; demo: the shipped demo model (readable answers for
    the screenshot) instead of the tiny random-weight one."""
    tiny = tmp_path / "tiny-as-demo"
    tiny.mkdir()
    (tiny / "demo-text.gguf").symlink_to(tiny_model.text)
    (tiny / "demo-mmproj.gguf").symlink_to(tiny_model.mmproj)

    def run(step: str, arg: str = "", demo: bool = False) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(APP_DIR),
            "STAGELENS_HOME": str(tmp_path / "home"),
            "QT_QPA_PLATFORM": "offscreen",
            "TEST_STAGE_TOKENS": "80" if demo else "12",
            "TEST_QUESTION": FIRST_QUESTION if demo else "",
        }
        if not demo:
            env["STAGELENS_DEMO_MODEL"] = str(tiny)
        return subprocess.run(
            [sys.executable, "-c", _WINDOW, step, arg], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )

    return run


def test_a_kill_mid_answer_keeps_the_question_and_its_partial_answer(run_window):
    killed = run_window("kill", "2", demo=True)  # during the first question, once two stages are done
    assert killed.returncode == -9, killed.stderr
    SHOTS.mkdir(exist_ok=True)
    reopened = run_window("reopen", str(SHOTS / "12-unfinished-turn.png"), demo=True)
    assert reopened.returncode == 0, reopened.stderr
    seen = json.loads(reopened.stdout.strip().splitlines()[-1])
    assert seen["conversations"] == [FIRST_QUESTION], "a kill during the first question leaves its conversation"
    assert seen["questions"] == [FIRST_QUESTION] and seen["unfinished"] == [[True]]
    assert seen["stages"] == ["summary", "caption"], "the stages written before the kill"
    assert all(t not in ("", "—") for t in seen["stage_texts"]), "the partial text is shown"
    assert seen["status"].startswith("⚠ Unfinished") and seen["regenerate"] == [True, True]
    assert seen["images_ok"] == [True] and seen["thumbs"] == [[False, True]], "its image was saved with the question"
    assert seen["regenerated"] == [2, 1, True], "Regenerate answers it again, the unfinished one is kept"

    killed = run_window("kill", "1")  # a follow-up, once its first stage is done
    assert killed.returncode == -9, killed.stderr
    reopened = run_window("reopen")
    assert reopened.returncode == 0, reopened.stderr
    seen = json.loads(reopened.stdout.strip().splitlines()[-1])
    assert seen["questions"] == [FIRST_QUESTION, "Question 2?"]
    assert seen["unfinished"] == [[True, False], [True]] and seen["selected"] == [1, 0]
    assert seen["stages"] == ["summary"] and seen["stage_texts"][0] not in ("", "—")
    assert seen["regenerated"] == [2, 1, True]


def test_a_kill_while_a_stage_streams_keeps_its_text_up_to_the_last_second(run_window):
    """No stage has ended: what is kept is the checkpoint written at most a second before the kill."""
    killed = run_window("kill-streaming", "3")
    assert killed.returncode == -9, killed.stderr
    at_kill = json.loads(killed.stdout.strip().splitlines()[-1])
    reopened = run_window("reopen")
    assert reopened.returncode == 0, reopened.stderr
    seen = json.loads(reopened.stdout.strip().splitlines()[-1])
    assert seen["questions"] == ["Question 1?"] and seen["unfinished"] == [[True]]
    assert seen["stages"][-1] == at_kill["stage"] and seen["stage_texts"][-1] == at_kill["text"].strip()
    assert "unfinished" in seen["stage_titles"][-1], "the stage being written is marked"
    assert not any("unfinished" in t for t in seen["stage_titles"][:-1]), "the stages before it ended"
    assert seen["status"].startswith("⚠ Unfinished") and seen["regenerate"] == [True, True]
