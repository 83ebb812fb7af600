"""The Models dialog driven by pytest-qt against the real local Hub server of
tests/fixtures/hub.py, with screenshots (tests/_screenshots/models_*.png) of each state."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from tests.fixtures.hub import REPO, STALL, entry_for, serve  # noqa: E402
from tests.fixtures.models import gpu_devices, write_wide_projector  # noqa: E402

from stagelens.models.catalog import load_catalog  # noqa: E402
from stagelens.models.download import DownloadManager  # noqa: E402
from stagelens.models.registry import Registry  # noqa: E402
from stagelens.ui.models_dialog import ModelsDialog  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"


def shot(widget, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # let layouts catch up with the last text changes
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"models_{name}.png"
    assert widget.grab().save(str(path))
    return path


@pytest.fixture()
def dialog(qtbot, hub, tmp_path, model_files):
    serve(hub, model_files)
    hub.files[(REPO, "tiny-text.gguf")].stall_after = STALL  # mid-file, so progress can be seen
    manager = DownloadManager(folder=tmp_path / "models", endpoint=hub.url, event_interval=0.0)
    test_entry = entry_for(model_files)
    dlg = ModelsDialog(manager=manager, catalog=[test_entry, *load_catalog()])
    from stagelens.ui.theme import stylesheet

    dlg.setStyleSheet(stylesheet(dlg.palette()))  # what the app applies, for true-to-life screenshots
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg
    manager.shutdown(timeout=10)


def test_dialog_catalog_download_pause_resume_installed(qtbot, dialog, hub, tmp_path):
    card = dialog.cards["tiny-vlm"]
    assert dialog.tabs.tabText(0) == "Catalog"
    assert not card.progress_box.isVisible()
    assert "download" in card.cost.text() and "RAM" in card.cost.text()
    assert dialog.cards["qwen3-vl-2b"].cost.text().startswith("1.6 GB download")
    shot(dialog, "1_catalog")

    qtbot.mouseClick(card.download, Qt.MouseButton.LeftButton)
    # the server sends part of the model file and then goes silent: progress shows mid-file
    qtbot.waitUntil(lambda: card.rows[0].bar.value() > 0 and "KB /" in card.rows[0].detail.text(), timeout=30000)
    assert card.pause.isVisible() and card.cancel.isVisible() and not card.download.isEnabled()
    assert "%" in card.rows[0].detail.text()
    shot(dialog, "2_downloading")
    # the server stays silent: the row stops showing the last burst's speed and says so
    qtbot.waitUntil(lambda: "waiting for the server" in card.rows[0].detail.text(), timeout=30000)
    assert "/s" not in card.rows[0].detail.text() and "left" not in card.rows[0].detail.text()
    shot(dialog, "2b_server_silent")

    qtbot.mouseClick(card.pause, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Paused" in card.status.text(), timeout=30000)
    assert card.resume.isVisible() and not card.pause.isVisible()
    shot(dialog, "3_paused")

    qtbot.mouseClick(card.resume, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Installed" in card.status.text(), timeout=30000)
    assert card.rows[0].bar.value() == 1000 and card.rows[1].bar.value() == 1000
    assert card.badge.text() == "✓ Installed"
    # the resumed request asked only for the bytes that were missing
    gets = hub.gets("tiny-text.gguf")
    assert len(gets) == 2 and gets[1].range == f"bytes={STALL}-"
    shot(dialog, "4_installed_card")

    dialog.tabs.setCurrentIndex(1)
    assert dialog.tabs.tabText(1) == "Installed (1)"
    assert Registry(tmp_path / "models").get("tiny-vlm") is not None
    shot(dialog, "5_installed")

    dialog.remove_model("tiny-vlm")
    assert dialog.tabs.tabText(1) == "Installed (0)"
    assert not (tmp_path / "models" / "tiny-vlm" / "tiny-text.gguf").exists()


def test_dialog_cancel_and_failure_messages(qtbot, dialog, hub, tmp_path):
    card = dialog.cards["tiny-vlm"]
    qtbot.mouseClick(card.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.rows[0].bar.value() > 0, timeout=30000)
    qtbot.mouseClick(card.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Cancelled" in card.status.text(), timeout=30000)
    assert not list((tmp_path / "models" / "tiny-vlm").glob("*.part"))

    # a catalog model this fake Hub does not have: the error reaches the window in one sentence
    qwen = dialog.cards["qwen3-vl-2b"]
    qtbot.mouseClick(qwen.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "not on the Hub" in dialog.message.text(), timeout=30000)
    assert "Failed" in qwen.status.text() and "Qwen3VL-2B-Instruct-Q4_K_M.gguf is not on the Hub (404)" in (
        qwen.status.text()
    )
    assert qwen.resume.isVisible()
    shot(dialog, "6_failed")


def test_dialog_import_and_gpu_tab(qtbot, dialog, tiny_model, tmp_path):
    wide = write_wide_projector(tmp_path / "mmproj-wide.gguf")
    assert dialog.import_files(tiny_model.text, wide) is None
    assert "Not imported" in dialog.message.text() and "belongs to another model" in dialog.message.text()
    assert dialog.tabs.tabText(1) == "Installed (0)"
    shot(dialog, "7_import_refused")

    chosen = []
    dialog.model_chosen.connect(lambda t, m: chosen.append((t, m)))
    model = dialog.import_files(tiny_model.text, tiny_model.mmproj)
    assert model is not None and dialog.tabs.tabText(1) == "Installed (1)"
    dialog._use(model.id)
    assert chosen == [(model.text, model.mmproj)]

    dialog.tabs.setCurrentIndex(2)
    assert "auto =" in dialog.gpu_plan.text()
    layers = []
    dialog.gpu_layers_chosen.connect(layers.append)
    dialog.gpu_mode.setCurrentText("manual")
    dialog.gpu_layers.setValue(7)
    assert layers[-1] == 7 and dialog.gpu_layers.isEnabled()
    dialog.gpu_mode.setCurrentText("auto")
    assert layers[-1] == "auto"
    shot(dialog, "8_gpu")


def test_gated_model_points_at_the_token_field_and_the_typed_token_downloads_it(qtbot, dialog, hub, tmp_path):
    for f in hub.files.values():
        f.token, f.stall_after = "hf_secret_for_test", None
    card = dialog.cards["tiny-vlm"]
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password
    qtbot.mouseClick(card.download, Qt.MouseButton.LeftButton)
    # the card may show Failed (its refresh timer) before the failure event reaches the dialog
    qtbot.waitUntil(lambda: "Hub token field" in dialog.message.text(), timeout=30000)
    assert "Failed" in card.status.text() and "gated" in dialog.message.text()
    assert dialog.token.styleSheet(), "the token field is marked as the place to act"
    shot(dialog, "9_token_needed")

    qtbot.keyClicks(dialog.token, "hf_secret_for_test")
    assert dialog.manager.token == "hf_secret_for_test" and not dialog.token.styleSheet()
    qtbot.mouseClick(card.resume, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Installed" in card.status.text(), timeout=30000)
    assert Registry(tmp_path / "models").get("tiny-vlm") is not None
    # kept in memory only: nothing the app wrote holds the token
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"hf_secret_for_test" in p.read_bytes()]


def test_installed_rows_show_parameters_size_and_vision_of_both_files(qtbot, dialog, tiny_model):
    from stagelens.models.gguf_info import human_bytes, human_count, read_gguf_info
    from stagelens.ui.models_dialog import InstalledRow

    model = dialog.import_files(tiny_model.text, tiny_model.mmproj)
    assert model is not None
    row = dialog.installed_page.findChild(InstalledRow)
    text_line, proj_line = (label.text() for label in row.facts)
    text, proj = read_gguf_info(tiny_model.text), read_gguf_info(tiny_model.mmproj)
    assert f"parameters {human_count(text.n_params)}" in text_line
    assert f"size {human_bytes(text.file_size)}" in text_line and "text model" in text_line
    assert f"parameters {human_count(proj.n_params)}" in proj_line
    assert f"size {human_bytes(proj.file_size)}" in proj_line and "vision encoder yes" in proj_line
    shot(dialog, "10_installed_details")


def test_gpu_tab_opens_on_the_current_setting_and_plans_with_the_users_context(qtbot, dialog, tiny_model):
    from stagelens.models.gguf_info import read_gguf_info
    from stagelens.models.gpu import HEADROOM_BYTES, HEADROOM_FRACTION, backend_info, plan_offload

    model = dialog.import_files(tiny_model.text, tiny_model.mmproj)
    text, proj = read_gguf_info(model.text), read_gguf_info(model.mmproj)
    # free VRAM that holds the whole model at 64 tokens of context but not at the 8192 default
    small_ctx = 64
    need = HEADROOM_BYTES + proj.file_size + text.file_size + text.kv_bytes_per_token * small_ctx
    gpu = backend_info(gpu_devices(int(need / (1 - HEADROOM_FRACTION)) + 16))
    at_small, at_default = (plan_offload(text, proj, n, gpu).n_gpu_layers for n in (small_ctx, 8192))
    assert at_small != at_default

    chosen = []
    manual = ModelsDialog(
        manager=dialog.manager, catalog=[], backend=gpu, gpu_auto=False, n_gpu_layers=12, n_ctx=small_ctx
    )
    qtbot.addWidget(manual)
    manual.gpu_layers_chosen.connect(chosen.append)
    assert manual.gpu_mode.currentText() == "manual"
    assert manual.gpu_layers.value() == 12 and manual.gpu_layers.isEnabled()
    assert f"auto = {at_small} layers" in manual.gpu_plan.text() and f"{small_ctx} tokens" in manual.gpu_plan.text()
    assert chosen == [], "opening the dialog changes no setting"
    manual.tabs.setCurrentIndex(2)
    manual.show()
    qtbot.waitExposed(manual)
    shot(manual, "11_gpu_manual")

    auto = ModelsDialog(manager=dialog.manager, catalog=[], backend=gpu, gpu_auto=True, n_gpu_layers=5)
    qtbot.addWidget(auto)
    assert auto.gpu_mode.currentText() == "auto" and not auto.gpu_layers.isEnabled()
    assert auto.gpu_layers.value() == 5 and f"auto = {at_default} layers" in auto.gpu_plan.text()
