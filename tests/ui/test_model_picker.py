"""The model picker in the main window: the installed models with family, size, quantisation and
CPU/GPU, switching without a restart, and "Get more models…" opening the Models dialog."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtGui import QPainter  # noqa: E402
from tests.fixtures.qt_window import SHOTS, TIMEOUT_MS, ask  # noqa: E402

from stagelens.models.default import demo_model  # noqa: E402
from stagelens.models.gguf_info import human_count, read_gguf_info  # noqa: E402
from stagelens.models.registry import InstalledModel, Registry  # noqa: E402
from stagelens.ui.model_picker import MORE_MODELS  # noqa: E402


@pytest.fixture()
def installed(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("STAGELENS_MODELS_DIR", str(tmp_path / "models"))
    Registry().add(
        InstalledModel("smolvlm-256m-q8", "SmolVLM 256M", str(tiny_model.text), str(tiny_model.mmproj), "catalog")
    )
    return tiny_model


def test_the_picker_lists_the_models_with_what_they_are(make_real, installed, qtbot):
    window = make_real()
    picker = window.model_picker
    assert picker.button.text() == "Tiny test model (random weights)"
    info = read_gguf_info(installed.text)
    assert human_count(info.n_params) in picker.details.text() and "CPU" in picker.details.text()
    picker.fill_menu()
    actions = picker.actions_by_name()
    demo = demo_model()
    assert demo is not None and demo.name in actions and "SmolVLM 256M" in actions and MORE_MODELS in actions
    line = actions["SmolVLM 256M"].text().split("\t")[1]
    assert line.startswith("SmolVLM · "), "the family comes from the catalog"
    for fact in (human_count(info.n_params), info.quantization, "CPU"):
        assert fact in line
    assert "StageLens demo" in actions[demo.name].text() and "F32" in actions[demo.name].text()
    assert actions[f"Default: {window.default_model_name()}"].isChecked(), "what answers now is checked"
    _shot_with_menu(window, picker)


def test_choosing_a_model_switches_without_a_restart(make_real, installed, qtbot):
    window = make_real()
    worker_thread = window.engine.engine_thread
    ask(qtbot, window, "Before the switch")
    demo = demo_model()
    assert demo is not None
    picker = window.model_picker
    picker.fill_menu()
    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        picker.actions_by_name()[demo.name].trigger()
    assert window.settings.model_text == str(demo.text) and window.model.name == demo.name
    assert window.engine.worker._engine.settings.model == str(demo.text), "the engine now runs the demo model"
    assert window.engine.engine_thread is worker_thread and worker_thread.isRunning(), "the same window, no restart"
    assert picker.button.text() == demo.name and "StageLens demo" in picker.details.text()
    assert "F32" in picker.details.text()
    turn, _card = ask(qtbot, window, "After the switch")
    assert turn.answer.trace.model.path == str(demo.text)
    assert len(window.conversation.turns) == 2, "the conversation goes on with the other model"
    picker.fill_menu()
    assert picker.actions_by_name()[demo.name].isChecked()


def test_get_more_models_opens_the_models_dialog(make_real, installed, qtbot, monkeypatch):
    import stagelens.ui.models_dialog as models_dialog

    opened: list[object] = []

    def exec_(dialog) -> int:
        opened.append(dialog)
        assert dialog.windowTitle() == "Models"
        return 0

    monkeypatch.setattr(models_dialog.ModelsDialog, "exec", exec_)
    window = make_real()
    window.model_picker.fill_menu()
    window.model_picker.actions_by_name()[MORE_MODELS].trigger()
    assert len(opened) == 1 and isinstance(opened[0], models_dialog.ModelsDialog)


def _shot_with_menu(window, picker) -> None:
    """The window with the picker's menu open (a menu is a window of its own: drawn in)."""
    from PySide6.QtWidgets import QApplication

    picker.menu.popup(picker.button.mapToGlobal(QPoint(0, picker.button.height())))
    QApplication.processEvents()
    picker.menu.resize(picker.menu.sizeHint())
    QApplication.processEvents()
    image = window.grab().toImage()
    menu = picker.menu.grab()
    painter = QPainter(image)
    painter.drawPixmap(picker.button.mapTo(window, QPoint(0, picker.button.height())), menu)
    painter.end()
    picker.menu.hide()
    SHOTS.mkdir(exist_ok=True)
    assert image.save(str(SHOTS / "13-model-picker.png"))
