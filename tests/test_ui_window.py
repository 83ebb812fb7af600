"""The main window, offscreen with the tiny random-weight model: images in, answers out,
stop, regenerate, bad input, export. Screenshots of the main states go to tests/_screenshots."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings_store import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402

SHOTS = Path(__file__).parent / "_screenshots"
TIMEOUT_MS = 120_000


def shot(widget, name: str, settle: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    if settle:
        QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture()
def make_window(qtbot, tiny_model, tmp_path):
    QApplication.instance().setStyleSheet(stylesheet())
    windows = []

    def make(**settings) -> MainWindow:
        base = AppSettings(beam=2, max_stage_tokens=12, n_ctx=4096)
        window = MainWindow(
            history=HistoryStore(tmp_path / f"data{len(windows)}"),
            settings=AppSettings(**{**base.__dict__, **settings}),
            model=ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test"),
            save_settings_file=False,
        )
        qtbot.addWidget(window)
        window.resize(1000, 720)
        window.show()
        windows.append(window)
        qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
        return window

    yield make
    for window in windows:
        if window.running is not None:
            window.stop()
            qtbot.waitUntil(lambda w=window: w.running is None, timeout=TIMEOUT_MS)


@pytest.fixture()
def window(make_window) -> MainWindow:
    window = make_window()
    assert window.model_ready
    return window


def ask_and_wait(qtbot, window: MainWindow, question: str = "What is in the picture?"):
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask(question)
    turn = window.conversation.turns[-1]
    return turn, window._card_for(turn)


def drop(window: MainWindow, mime: QMimeData) -> None:
    pos = QPointF(window.width() / 2, window.height() / 2)
    with warnings.catch_warnings():  # PySide marks the only QDragEnterEvent constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)


def test_drop_several_files_adds_thumbnails(window, scene_path, tmp_path):
    shot(window, "01-empty")
    second = tmp_path / "second.png"
    picture = QImage(40, 30, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.darkGreen)
    picture.save(str(second))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(scene_path)), QUrl.fromLocalFile(str(second))])
    drop(window, mime)
    assert [i.name for i in window.strip.images] == ["scene.png", "second.png"]
    assert all(i.ok for i in window.strip.images)
    assert window.strip.images[0].original_size == (96, 72)
    assert not window.drop_overlay.isVisible()
    window.question.edit.setPlainText("How many red circles are there?")
    shot(window, "02-images-added")


def test_browser_drag_of_image_data_is_added(window, scene_png):
    mime = QMimeData()
    mime.setData("image/png", scene_png)
    drop(window, mime)
    assert len(window.strip.valid_images()) == 1


def test_paste_image_with_ctrl_v(window, qtbot):
    image = QImage(50, 40, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    QGuiApplication.clipboard().setImage(image)
    window.question.edit.setFocus()
    qtbot.keyClick(window.question.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(window.strip.images) == 1
    pasted = window.strip.images[0]
    assert pasted.ok and pasted.name.startswith("pasted-") and pasted.original_size == (50, 40)
    assert window.question.text() == ""


def test_shift_enter_is_a_new_line_and_enter_sends(window, qtbot):
    edit = window.question.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "first line")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "second line")
    assert edit.toPlainText() == "first line\nsecond line" and not window.conversation.turns
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.conversation.turns[0].question == "first line\nsecond line" and edit.toPlainText() == ""


def test_remove_button_drops_the_image(window, scene_path, qtbot):
    window.add_image_paths([scene_path])
    qtbot.mouseClick(window.strip.thumbs[0].remove_button, Qt.MouseButton.LeftButton)
    assert window.strip.images == []
    assert not window.strip.isVisible()


def test_ask_streams_conclusion_and_panel_opens_on_three_stages(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    streamed: list[str] = []
    live_stages: list[str] = []

    def watch(kind, stage):
        running = window.running
        if running is None:
            return
        card = window._card_for(running.turn)
        live_stages.append(card.panel.header.text())
        if stage == "reasoning" and kind == "text" and not any(s.startswith("shot") for s in streamed):
            streamed.append("shot")
            shot(window, "03-answering", settle=False)
        if stage == "conclusion" and kind == "text" and card.conclusion.text() not in ("", "…"):
            streamed.append(card.conclusion.text())

    window.live_updated.connect(watch)
    window.question.edit.setPlainText("How many red circles are there?")
    qtbot.keyClick(window.question.edit, Qt.Key.Key_Return)
    assert window.question.send_button.text() == "Stop"
    qtbot.waitUntil(lambda: window.running is None, timeout=TIMEOUT_MS)
    window.live_updated.disconnect(watch)

    turn = window.conversation.turns[-1]
    trace = turn.answer.trace
    assert trace is not None and not trace.cancelled
    assert any(s != "shot" for s in streamed), "the conclusion was not shown while it formed"
    assert "Reasoning · Caption (2 of 3)…" in live_stages and "Reasoning · Reasoning (3 of 3)…" in live_stages
    card = window._card_for(turn)
    assert card.conclusion.text() == trace.conclusion
    assert window.question.send_button.text() == "Send"
    assert card.panel.header.text().startswith("Reasoned in") and "beam 2" in card.panel.header.text()
    assert not card.panel.sections_box.isVisible()
    qtbot.mouseClick(card.panel.header, Qt.MouseButton.LeftButton)
    assert card.panel.sections_box.isVisible()
    assert card.panel.stage_names() == ["summary", "caption", "reasoning"]
    for section, stage in zip(card.panel.sections, trace.stages[:3], strict=True):
        assert section.body.text() == (stage.text or "—")
    assert window.settings.reasoning_expanded, "the user's choice is remembered"
    assert "tok/s" in window.speed_label.text() and window.backend_label.text() == "CPU"
    shot(window, "04-answered-panel-open")

    qtbot.mouseClick(card.inspector_button, Qt.MouseButton.LeftButton)
    rows = card.inspector.candidate_rows()
    assert [r[1] for r in rows] == [2, 2, 2, 2]
    assert all(marked for _, _, marked in rows)
    card.inspector.tree.setCurrentItem(card.inspector.tree.topLevelItem(0).child(1))
    assert card.inspector.detail.toPlainText() == trace.stages[0].candidates[1].text
    QApplication.processEvents()
    window.scroll.verticalScrollBar().setValue(window.scroll.verticalScrollBar().maximum())
    shot(window, "05-inspector-open")


def test_follow_up_continues_the_conversation(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    ask_and_wait(qtbot, window, "What is this?")
    turn, _card = ask_and_wait(qtbot, window, "And what colour is it?")
    assert len(window.conversation.turns) == 2
    assert turn.answer.trace is not None
    assert turn.answer.trace.stats.image_encodes == 0, "the follow-up reuses the first turn's image"


def test_stop_mid_answer_keeps_partial_text(make_window, qtbot, scene_path):
    window = make_window(max_stage_tokens=700, beam=1)
    window.add_image_paths([scene_path])
    stopped: list[bool] = []

    def stop_on_first_text(kind, stage):
        if kind == "text" and not stopped:
            stopped.append(True)
            qtbot.keyClick(window, Qt.Key.Key_Escape)

    window.live_updated.connect(stop_on_first_text)
    window.ask("Describe everything.")
    qtbot.waitUntil(lambda: window.running is None, timeout=TIMEOUT_MS)
    window.live_updated.disconnect(stop_on_first_text)
    turn = window.conversation.turns[-1]
    trace = turn.answer.trace
    assert stopped and trace is not None and trace.cancelled
    card = window._card_for(turn)
    assert "Stopped" in card.status_label.text()
    assert card.panel.header.text().startswith("Stopped after")
    partial = trace.stages[0].text
    assert partial
    card.panel.set_expanded(True)
    assert card.panel.sections[0].body.text() == partial
    assert "stopped" in card.panel.sections[0].title.text()
    shot(window, "09-stopped")
    assert window.question.send_button.text() == "Send"
    stored = window.history.turns(window.conversation.id)
    assert len(stored) == 1 and "cancelled" in stored[0].answers[0].trace_json


def test_regenerate_keeps_both_versions(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    turn, card = ask_and_wait(qtbot, window)
    first = turn.versions[0].trace
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(card.regenerate_button, Qt.MouseButton.LeftButton)
    assert len(turn.versions) == 2 and turn.selected == 1
    second = turn.versions[1].trace
    assert second.settings["seed"] != first.settings["seed"]
    assert card.version_label.text() == "2 / 2" and card.version_label.isVisible()
    qtbot.mouseClick(card.prev_button, Qt.MouseButton.LeftButton)
    assert turn.selected == 0 and card.conclusion.text() == first.conclusion
    assert card.version_label.text() == "1 / 2"
    stored = window.history.turns(window.conversation.id)
    assert len(stored) == 1 and len(stored[0].answers) == 2 and stored[0].selected == 0


def test_bad_image_is_refused_on_its_thumbnail(window, qtbot, scene_path, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    window.add_image_paths([broken, scene_path, tmp_path / "missing.jpg"])
    thumbs = window.strip.thumbs
    assert [t.objectName() for t in thumbs] == ["thumbError", "thumb", "thumbError"]
    assert "broken.png" in thumbs[0].accessibleName() and "error" in thumbs[0].accessibleName()
    assert "does not exist" in thumbs[2].toolTip()
    shot(window, "06-bad-image")
    turn, _card = ask_and_wait(qtbot, window)
    assert [i.name for i in turn.images] == ["scene.png"]
    assert turn.answer.trace is not None and len(turn.answer.trace.images) == 1


def test_engine_error_appears_in_the_answer_and_chat_goes_on(window, qtbot):
    turn, card = ask_and_wait(qtbot, window, "why " * 6000)
    assert turn.answer.trace is None and turn.answer.error
    assert "could not answer" in card.status_label.text()
    turn2, card2 = ask_and_wait(qtbot, window, "A short question.")
    assert turn2.answer.trace is not None and card2.conclusion.text() == turn2.answer.trace.conclusion


def test_model_that_fails_to_load_is_explained(make_window, qtbot, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file")
    window = make_window(model_text=str(fake), model_mmproj=str(fake))
    assert not window.model_ready and window.banner.isVisible()
    assert "could not be loaded" in window.banner_text.text()
    assert window.banner_default.isVisible() and not window.question.send_button.isEnabled()
    shot(window, "07-model-failed")
    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.banner_default, Qt.MouseButton.LeftButton)
    assert window.model_ready and not window.banner.isVisible()


def test_export_writes_markdown_and_json(window, qtbot, scene_path, tmp_path):
    window.add_image_paths([scene_path])
    turn, _card = ask_and_wait(qtbot, window, "What is in the picture?")
    md, js = tmp_path / "chat.md", tmp_path / "chat.json"
    window.export_to(md, "md")
    window.export_to(js, "json")
    text = md.read_text(encoding="utf-8")
    for heading in ("# What is in the picture?", "## Question 1", "### Summary", "### Caption", "### Reasoning",
                    "### Answer"):
        assert heading in text
    assert turn.answer.trace.stages[1].text.strip() in text
    data = json.loads(js.read_text(encoding="utf-8"))
    trace = data["turns"][0]["answers"][0]["trace"]
    assert [s["name"] for s in trace["stages"]] == ["summary", "caption", "reasoning", "conclusion"]
    assert trace["stages"][0]["candidates"][0]["tokens"], "full traces include token ids"
    assert data["turns"][0]["images"][0]["name"] == "scene.png"


def test_sidebar_new_rename_delete_search(window, qtbot, scene_path):
    ask_and_wait(qtbot, window, "first question about zebras")
    first_id = window.conversation.id
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.conversation.id is None and window.empty.isVisible()
    ask_and_wait(qtbot, window, "second question about giraffes")
    assert window.sidebar.list.count() == 2
    window.rename_conversation(first_id, "Zebra chat")
    window.sidebar.search.setText("zebra ch")
    assert [window.sidebar.list.item(i).text() for i in range(window.sidebar.list.count())] == ["Zebra chat"]
    window.sidebar.search.setText("giraffes")
    assert window.sidebar.list.count() == 1
    window.sidebar.search.setText("nothing like this")
    assert [window.sidebar.list.item(i).text() for i in range(window.sidebar.list.count())] == ["No matches"]
    window.sidebar.search.setText("")
    window.open_conversation(first_id)
    assert window.conversation.turns[0].question == "first question about zebras"
    window.delete_conversation(first_id)
    assert window.sidebar.list.count() == 1 and window.conversation.id is None


def test_settings_dialog_round_trip(window, qtbot):
    dialog = SettingsDialog(window.settings, window.default_model_name(), window)
    qtbot.addWidget(dialog)
    dialog.show()
    shot(dialog, "08-settings")
    dialog.beam.setValue(3)
    dialog.scorer.setCurrentIndex(1)
    dialog.stage_tokens.setValue(8)
    new = dialog.result_settings()
    assert (new.beam, new.scorer, new.max_stage_tokens) == (3, "judge", 8)
    dialog.text_field.edit.setText("/nonexistent/model.gguf")
    dialog._accept()
    assert dialog.error_label.isVisible() and dialog.result() == 0
    window.apply_settings(new)
    turn, _card = ask_and_wait(qtbot, window, "with new settings")
    assert turn.answer.trace.settings["beam"] == 3 and turn.answer.trace.settings["scorer"] == "judge"


def test_every_control_has_an_accessible_name(window, qtbot, scene_path):
    from PySide6.QtWidgets import QAbstractButton, QLineEdit, QPlainTextEdit

    window.add_image_paths([scene_path])
    ask_and_wait(qtbot, window)
    missing = [w for w in window.findChildren(QAbstractButton) + window.findChildren(QLineEdit)
               + window.findChildren(QPlainTextEdit)
               if w.isVisible() and not w.accessibleName() and not (isinstance(w, QAbstractButton) and w.text())]
    assert not missing, [type(w).__name__ + ":" + w.objectName() for w in missing]



def test_copy_and_preview(window, qtbot, scene_path):
    from stagelens.ui.image_strip import ImagePreview

    window.add_image_paths([scene_path])
    preview = ImagePreview(window.strip.images[0], window)
    qtbot.addWidget(preview)
    texts = [w.text() for w in preview.findChildren(type(window.model_label))]
    assert any("Original 96 × 72 px · sent to the model 96 × 72 px" in t for t in texts)
    turn, card = ask_and_wait(qtbot, window)
    qtbot.mouseClick(card.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == turn.answer.trace.conclusion


def test_dark_palette_is_followed(window, qtbot, scene_path):
    from PySide6.QtGui import QColor, QPalette

    app = QApplication.instance()
    old = app.palette()
    dark = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.WindowText, "#e8eaed"),
                        (QPalette.ColorRole.Base, "#2b2c2f"), (QPalette.ColorRole.Text, "#e8eaed"),
                        (QPalette.ColorRole.Button, "#303134"), (QPalette.ColorRole.ButtonText, "#e8eaed"),
                        (QPalette.ColorRole.Highlight, "#8ab4f8"), (QPalette.ColorRole.PlaceholderText, "#9aa0a6")):
        dark.setColor(role, QColor(color))
    try:
        app.setPalette(dark)
        app.setStyleSheet(stylesheet(dark))
        window.add_image_paths([scene_path])
        _turn, card = ask_and_wait(qtbot, window)
        card.panel.set_expanded(True)
        shot(window, "10-dark")
        inside = card.panel.grab().toImage().pixelColor(card.panel.width() - 12, card.panel.height() // 2)
        assert inside.lightness() < 80, "the Reasoning panel follows the dark palette"
    finally:
        app.setPalette(old)
        app.setStyleSheet(stylesheet(old))


def test_models_dialog_choice_is_applied(window, qtbot, tiny_model):
    from PySide6.QtCore import QObject, Signal

    class FakeModelsDialog(QObject):
        model_chosen = Signal(str, str)
        gpu_layers_chosen = Signal(object)

        def __init__(self, parent):
            super().__init__(parent)

        def exec(self):
            self.gpu_layers_chosen.emit(0)
            self.model_chosen.emit(str(tiny_model.text), str(tiny_model.mmproj))
            return 1

    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        window.open_models(FakeModelsDialog)
    assert window.settings.model_text == str(tiny_model.text) and not window.settings.gpu_auto
    assert window.model.kind == "local" and window.model_label.text() == Path(tiny_model.text).stem
    try:
        import stagelens.ui.models_dialog  # noqa: F401
    except ImportError:
        return
    assert any(a.text() == "&Models…" for a in window.actions())


def test_engine_results_are_handled_on_the_gui_thread(window, qtbot):
    from PySide6.QtCore import QThread

    on_gui: list[bool] = []
    gui = QApplication.instance().thread()
    window.live_updated.connect(lambda *_: on_gui.append(QThread.currentThread() is gui))
    window.answer_finished.connect(lambda *_: on_gui.append(QThread.currentThread() is gui))
    ask_and_wait(qtbot, window)
    assert len(on_gui) > 2 and all(on_gui)
