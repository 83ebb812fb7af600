"""The verifier in the window: chosen in Settings (a file picker, its mode and format), loaded beside the
model, answering with it; a bad verifier is the load banner's message, a missing one the dialog's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication  # noqa: E402
from tests.fixtures.qt_window import TIMEOUT_MS, ask, shot, wait_images  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.models.default import ModelChoice, demo_model  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402

DEMO = demo_model()
pytestmark = pytest.mark.skipif(DEMO is None, reason="the demo model is not installed")


def test_the_verifier_is_chosen_in_settings_and_checked_before_saving(qtbot) -> None:
    assert DEMO is not None
    QApplication.instance().setStyleSheet(stylesheet())
    dialog = SettingsDialog(replace(AppSettings(), preset="custom"), "Demo model")
    qtbot.addWidget(dialog)
    dialog.scorer.setCurrentIndex(dialog.scorer.findData("verifier"))
    dialog._accept()  # no verifier model yet: the dialog says so and stays open
    assert dialog.error_label.text() == "The Verifier scorer needs a verifier model file."
    assert dialog.result() == 0
    dialog.verifier.text_field.edit.setText(str(DEMO.text))
    dialog.verifier.mmproj_field.edit.setText(str(DEMO.mmproj))
    dialog.verifier.mode.setCurrentIndex(dialog.verifier.mode.findData("outcome"))
    dialog.show()
    dialog.error_label.setVisible(False)
    shot(dialog, "settings-verifier")
    dialog._accept()
    chosen = dialog.result_settings()
    assert (chosen.scorer, chosen.verifier_text, chosen.verifier_projector) == (
        "verifier",
        str(DEMO.text),
        str(DEMO.mmproj),
    )
    assert chosen.verifier_mode == "outcome" and chosen.verifier_format == "auto"
    assert chosen.load_key() != AppSettings().load_key()  # the model is loaded again, with its verifier
    dialog._restore()
    assert dialog.verifier.values()["verifier_text"] == ""


def _window(qtbot, tmp_path: Path, tiny_model, **settings) -> MainWindow:
    QApplication.instance().setStyleSheet(stylesheet())
    window = MainWindow(
        history=HistoryStore(tmp_path / "history"),
        settings=AppSettings(**{"max_stage_tokens": 12, "n_ctx": 4096, "n_threads": 1, **settings}),
        model=ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test"),
        save_settings_file=False,
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
    return window


def test_a_bad_verifier_is_the_load_banners_message(qtbot, tmp_path, tiny_model) -> None:
    window = _window(qtbot, tmp_path, tiny_model, verifier_text=str(tmp_path / "missing.gguf"))
    assert not window.model_ready and window.banner.isVisible()
    assert f"The verifier model {tmp_path / 'missing.gguf'} does not exist" in window.banner.text.text()


def test_the_window_answers_with_the_verifier_and_counts_its_cost(qtbot, tmp_path, tiny_model, scene_path) -> None:
    assert DEMO is not None  # the demo model judging the tiny model's candidates, reading the text only
    window = _window(
        qtbot, tmp_path, tiny_model, preset="custom", beam=2, scorer="verifier", verifier_text=str(DEMO.text)
    )
    assert window.model_ready
    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    turn, _card = ask(qtbot, window)
    trace = turn.answer.trace
    assert trace is not None and trace.settings["scorer"] == "verifier"
    assert trace.stats.verifier_calls == len(trace.stages) and trace.stats.verifier_image_encodes == 0
    assert trace.prompt["verifier"]["format"] == "judge"
