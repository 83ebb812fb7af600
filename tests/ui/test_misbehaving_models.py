"""What the window shows when a model does not keep to the four-stage format: each scripted
misbehaviour (stagelens_dev.testmodels.scripts) answered in the window, its stage notes and the
reason for an empty conclusion on screen, and a screenshot of each (tests/_screenshots)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication  # noqa: E402
from tests.fixtures.qt_window import wait_images  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402
from stagelens_dev.testmodels.scripted import make_scripted_model  # noqa: E402
from stagelens_dev.testmodels.scripts import SCRIPTS  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
TIMEOUT_MS = 120_000
SETTINGS = AppSettings(beam=2, max_stage_tokens=24, n_ctx=4096, n_threads=1, reasoning_expanded=True)


@pytest.fixture(scope="module")
def scripted_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("scripted-window")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_the_window_says_what_the_model_did(script, scripted_dir, qtbot, tmp_path, scene_path):
    QApplication.instance().setStyleSheet(stylesheet())
    files = make_scripted_model(script.name, scripted_dir)
    model = ModelChoice(f"Scripted: {script.name}", files.text, files.mmproj, "local")
    window = MainWindow(
        history=HistoryStore(tmp_path / "data"), settings=SETTINGS, model=model, save_settings_file=False
    )
    qtbot.addWidget(window)
    window.resize(1000, 760)
    window.show()
    qtbot.waitUntil(lambda: window.model_ready, timeout=TIMEOUT_MS)
    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask("How many red circles are there?")
    turn = window.conversation.turns[-1]
    trace = turn.answer.trace
    card = window._card_for(turn)
    QApplication.processEvents()
    # every hidden stage's note is on screen, under its title
    for section, stage in zip(card.panel.sections, trace.stages[:3], strict=True):
        assert section.detail.text() == stage.note and section.detail.isVisibleTo(card) == bool(stage.note)
    # the conclusion, and why there is none or why it is not what was asked
    final = trace.stage("conclusion")
    why = trace.conclusion_note or final.note
    if trace.conclusion:
        assert card.conclusion.text() == trace.conclusion
    else:
        assert card.conclusion.text() == "(no conclusion)" and trace.conclusion_note
    assert (why in card.status_label.text()) and card.status_label.isVisibleTo(card) == bool(why)
    SHOTS.mkdir(exist_ok=True)
    assert window.grab().save(str(SHOTS / f"misbehaviour-{script.name}.png"))
