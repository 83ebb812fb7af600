"""Windows for the issue-14 tests (Markdown, model picker, presets, search tree, progress, theme,
edit and resend): the real MainWindow, answering either with the tiny random-weight model (the
real engine on its thread) or with hand-written traces streamed by tests/fixtures/scripted_runner
(what no test model writes: Markdown, a judge's bracket). test_window.py keeps its own fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication  # noqa: E402
from tests.fixtures.qt_window import TIMEOUT_MS  # noqa: E402
from tests.fixtures.scripted_runner import ScriptedRunner  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402


def _finish(qtbot, windows: list[MainWindow]) -> None:
    for window in windows:
        if window.running is not None:
            window.stop()
            qtbot.waitUntil(lambda w=window: w.running is None, timeout=TIMEOUT_MS)


@pytest.fixture()
def make_scripted(qtbot, tiny_model, tmp_path):
    """make(traces, **settings) -> (window, runner): answers are the traces, streamed."""
    QApplication.instance().setStyleSheet(stylesheet())
    windows: list[MainWindow] = []

    def make(traces, piece: int = 6, **settings) -> tuple[MainWindow, ScriptedRunner]:
        runner = ScriptedRunner(traces, piece=piece)
        # real files, so the picker can tell what the model is; the runner never reads them
        model = ModelChoice("Scripted answers", Path(tiny_model.text), Path(tiny_model.mmproj), "local")
        window = MainWindow(
            history=HistoryStore(tmp_path / f"scripted{len(windows)}"),
            settings=AppSettings(**{"n_ctx": 4096, **settings}),
            model=model,
            save_settings_file=False,
            runner=runner,
        )
        qtbot.addWidget(window)
        window.resize(1000, 720)
        window.show()
        windows.append(window)
        qtbot.waitUntil(lambda: window.model_ready, timeout=TIMEOUT_MS)
        return window, runner

    yield make
    _finish(qtbot, windows)


def _open_real(qtbot, windows: list[MainWindow], folder, model: ModelChoice, height: int, **settings) -> MainWindow:
    """The real window answering with `model` on its engine thread, once the model has loaded."""
    window = MainWindow(
        history=HistoryStore(folder),
        settings=AppSettings(**{"max_stage_tokens": 12, "n_ctx": 4096, **settings}),
        model=model,
        save_settings_file=False,
    )
    qtbot.addWidget(window)
    window.resize(1000, height)
    window.show()
    windows.append(window)
    qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
    assert window.model_ready
    return window


@pytest.fixture()
def make_real(qtbot, tiny_model, tmp_path):
    """make(**settings) -> a window answering with the tiny random-weight model."""
    QApplication.instance().setStyleSheet(stylesheet())
    windows: list[MainWindow] = []
    model = ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test")

    def make(**settings) -> MainWindow:
        return _open_real(qtbot, windows, tmp_path / f"real{len(windows)}", model, 720, **settings)

    yield make
    _finish(qtbot, windows)


@pytest.fixture()
def window_with(qtbot, tmp_path):
    """window_with(text, mmproj, **settings): the real window answering with that model."""
    QApplication.instance().setStyleSheet(stylesheet())
    windows: list[MainWindow] = []

    def make(text, mmproj, **settings) -> MainWindow:
        model = ModelChoice("Test model", text, mmproj, "test")
        return _open_real(qtbot, windows, tmp_path / f"methods{len(windows)}", model, 760, **settings)

    yield make
    _finish(qtbot, windows)
