"""The main window, offscreen: images in, answers out, stop, regenerate, bad input, export,
settings, menus and shortcuts. Tests that take screenshots (tests/_screenshots) use the shipped
demo model, so the pictures show real answers; the others use the tiny random-weight model."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from tests.fixtures.qt_drop import drop  # noqa: E402
from tests.fixtures.qt_window import wait_images  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.images import ImageLoader  # noqa: E402
from stagelens.models.default import ModelChoice, demo_model  # noqa: E402
from stagelens.resources import sample_images  # noqa: E402
from stagelens.settings import AppSettings, load_settings, save_settings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
TIMEOUT_MS = 120_000


def shot(widget, name: str, settle: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    if settle:
        QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


TINY_SETTINGS = AppSettings(beam=2, max_stage_tokens=12, n_ctx=4096)
DEMO_SETTINGS = AppSettings(beam=2, n_ctx=4096)  # the demo's answers fit the default stage budget


def demo_scene(n: int = 1) -> Path:
    """A 64x64 shape scene, the kind of picture the demo model knows."""
    return next(p for p in sample_images() if p.name == f"scene-{n}.png")


@pytest.fixture()
def make_window(qtbot, tiny_model, tmp_path):
    QApplication.instance().setStyleSheet(stylesheet())
    windows = []

    def make(demo: bool = False, from_file: bool = False, **settings) -> MainWindow:
        """demo: the shipped demo model instead of the tiny one; from_file: settings are read from and
        saved to the settings file (the test points STAGELENS_HOME somewhere of its own)."""
        if demo:
            model = demo_model()
            assert model is not None, "the demo model ships in models/demo"
        else:
            model = ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test")
        base = DEMO_SETTINGS if demo else TINY_SETTINGS
        if {"beam", "scorer", "temperature"} & settings.keys():  # numbers of its own: no preset
            settings.setdefault("preset", "custom")
        window = MainWindow(
            history=HistoryStore(tmp_path / f"data{len(windows)}"),
            settings=None if from_file else AppSettings(**{**base.__dict__, **settings}),
            model=model,
            save_settings_file=from_file,
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


@pytest.fixture()
def demo_window(make_window) -> MainWindow:
    window = make_window(demo=True)
    assert window.model_ready
    return window


def saved_turns(window: MainWindow):
    """The open conversation as the history holds it."""
    loader = ImageLoader(inline=True)
    return window.history.turns(window.conversation.id, lambda p, n, s: loader.from_history(p, n, s, 768))


def ask_and_wait(qtbot, window: MainWindow, question: str = "What is in the picture?"):
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask(question)
    turn = window.conversation.turns[-1]
    return turn, window._card_for(turn)


def test_drop_several_files_adds_thumbnails(demo_window, qtbot, scene_path, tmp_path):
    window = demo_window
    assert window.empty.isVisible()
    shot(window, "01-empty")
    second = tmp_path / "second.png"
    picture = QImage(40, 30, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.darkGreen)
    picture.save(str(second))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(scene_path)), QUrl.fromLocalFile(str(second))])
    drop(window, mime)
    assert [i.name for i in window.strip.images] == ["scene.png", "second.png"]
    wait_images(qtbot, window)
    assert all(i.ok for i in window.strip.images)
    assert window.strip.images[0].original_size == (96, 72)
    assert not window.drop_overlay.isVisible()
    assert not window.empty.isVisible(), "the getting-started text goes once there is an image to ask about"
    window.question.edit.setPlainText("How many red circles are there?")
    shot(window, "02-images-added")
    for thumb in list(window.strip.thumbs):
        thumb.remove_button.click()
    assert window.empty.isVisible()


def test_browser_drag_of_image_data_is_added(window, qtbot, scene_png):
    mime = QMimeData()
    mime.setData("image/png", scene_png)
    drop(window, mime)
    wait_images(qtbot, window)
    assert len(window.strip.valid_images()) == 1


def test_paste_image_with_ctrl_v(window, qtbot):
    image = QImage(50, 40, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    QGuiApplication.clipboard().setImage(image)
    window.question.edit.setFocus()
    qtbot.keyClick(window.question.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(window.strip.images) == 1
    wait_images(qtbot, window)
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


def test_ask_streams_conclusion_and_panel_opens_on_three_stages(demo_window, qtbot):
    window = demo_window
    window.add_image_paths([demo_scene(1)])
    streamed: list[str] = []
    live_stages: list[str] = []
    actions_shown: list[bool] = []

    def watch(kind, stage):
        running = window.running
        if running is None:
            return
        card = window._card_for(running.turn)
        live_stages.append(card.panel.header.text())
        actions_shown.append(
            any(b.isVisible() for b in (card.copy_button, card.regenerate_button, card.inspector_button))
        )
        if stage == "reasoning" and kind == "text" and not any(s.startswith("shot") for s in streamed):
            streamed.append("shot")
            shot(window, "03-answering", settle=False)
        if stage == "conclusion" and kind == "text" and card.conclusion.text() not in ("", "…"):
            streamed.append(card.conclusion.text())

    window.live_updated.connect(watch)
    window.question.edit.setPlainText("How many shapes are there?")
    qtbot.keyClick(window.question.edit, Qt.Key.Key_Return)
    assert window.question.send_button.text() == "Stop"
    qtbot.waitUntil(lambda: window.running is None, timeout=TIMEOUT_MS)
    window.live_updated.disconnect(watch)

    turn = window.conversation.turns[-1]
    trace = turn.answer.trace
    assert trace is not None and not trace.cancelled
    assert any(s != "shot" for s in streamed), "the conclusion was not shown while it formed"
    assert "Thinking · step 2 of 3: Caption…" in live_stages and "Thinking · step 3 of 3: Reasoning…" in live_stages
    assert actions_shown and not any(actions_shown), "Copy, Regenerate and the inspector wait for the answer"
    card = window._card_for(turn)
    assert all(b.isVisible() for b in (card.copy_button, card.regenerate_button, card.inspector_button))
    assert card.conclusion.text() == trace.conclusion
    assert window.question.send_button.text() == "Send"
    assert card.panel.header.text().startswith("Reasoned in") and "beam 2" in card.panel.header.text()
    assert card.panel.header.accessibleName() == "Show or hide the reasoning"
    assert card.panel.header.accessibleDescription() == card.panel.header.text()
    assert not card.panel.sections_box.isVisible()
    qtbot.mouseClick(card.panel.header, Qt.MouseButton.LeftButton)
    assert card.panel.sections_box.isVisible()
    assert card.panel.stage_names() == ["summary", "caption", "reasoning"]
    for section, stage in zip(card.panel.sections, trace.stages[:3], strict=True):
        assert section.body.text() == (stage.text.strip() or "—")
        body = section.body
        assert body.height() <= body.heightForWidth(body.width()) + 2, "no blank lines around the stage text"
    assert window.settings.reasoning_expanded, "the user's choice is remembered"
    assert "tok/s" in window.speed_label.text() and window.backend_label.text() in ("CPU", "CUDA", "Metal")
    shot(window, "04-answered-panel-open")

    qtbot.mouseClick(card.inspector_button, Qt.MouseButton.LeftButton)
    rows = card.inspector.candidate_rows()
    assert [r[1] for r in rows] == [2, 2, 2, 2]
    assert all(marked for _, _, marked in rows)
    card.inspector.tree.setCurrentItem(card.inspector.tree.topLevelItem(0).child(1))
    assert card.inspector.detail.toPlainText() == trace.stages[0].candidates[1].text
    QApplication.processEvents()
    window.conversation_view.verticalScrollBar().setValue(window.conversation_view.verticalScrollBar().maximum())
    shot(window, "05-inspector-open")


def test_follow_up_continues_the_conversation(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    ask_and_wait(qtbot, window, "What is this?")
    turn, _card = ask_and_wait(qtbot, window, "And what colour is it?")
    assert len(window.conversation.turns) == 2
    assert turn.answer.trace is not None
    assert turn.answer.trace.stats.image_encodes == 0, "the follow-up reuses the first turn's image"


def _hold_after_first_text_until_stopped(window: MainWindow, monkeypatch) -> None:
    """The tiny model can finish a whole answer before the Esc key is processed; hold the
    worker thread (in the engine's event callback) until the window has asked it to stop."""
    engine = window.engine.worker._engine
    answer = engine.answer

    def answer_held(*args, on_event=None, cancel=None, **kwargs):
        def relay(event) -> None:
            on_event(event)
            deadline = time.monotonic() + 60
            while event.kind == "text" and not cancel.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)

        return answer(*args, on_event=relay, cancel=cancel, **kwargs)

    monkeypatch.setattr(engine, "answer", answer_held)


def test_stop_mid_answer_keeps_partial_text(make_window, qtbot, scene_path, monkeypatch):
    window = make_window(max_stage_tokens=700, beam=1)
    _hold_after_first_text_until_stopped(window, monkeypatch)
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
    # the stage being written when Esc arrived: under load the first text event may come after the
    # first stage has already closed, so it is the last stage of the trace, not always the first
    stopped_at = len(trace.stages) - 1
    stage = trace.stages[stopped_at]
    assert not stage.complete and stage.name != "CONCLUSION"
    partial = stage.text
    assert partial
    card.panel.set_expanded(True)
    assert card.panel.sections[stopped_at].body.text() == partial
    assert "stopped" in card.panel.sections[stopped_at].title.text()
    assert not any("stopped" in section.title.text() for section in card.panel.sections[:stopped_at])
    QApplication.processEvents()
    viewport = window.conversation_view.viewport()
    assert card.width() <= viewport.width(), "long random words are not allowed to widen the card"
    shot(window, "09-stopped")
    assert window.question.send_button.text() == "Send"
    stored = saved_turns(window)
    assert len(stored) == 1 and stored[0].versions[0].trace.cancelled


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
    stored = saved_turns(window)
    assert len(stored) == 1 and len(stored[0].versions) == 2 and stored[0].selected == 0


def test_bad_image_is_refused_on_its_thumbnail(demo_window, qtbot, tmp_path):
    window = demo_window
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    window.add_image_paths([broken, demo_scene(2), tmp_path / "missing.jpg"])
    wait_images(qtbot, window)
    thumbs = window.strip.thumbs
    assert [t.objectName() for t in thumbs] == ["thumbError", "thumb", "thumbError"]
    assert "broken.png" in thumbs[0].accessibleName() and "error" in thumbs[0].accessibleName()
    assert "does not exist" in thumbs[2].toolTip()
    window.question.edit.setPlainText("How many shapes are there?")
    shot(window, "06-bad-image")
    turn, _card = ask_and_wait(qtbot, window, "How many shapes are there?")
    assert [i.name for i in turn.images] == ["scene-2.png"]
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
    window = make_window(demo=True, model_text=str(fake), model_mmproj=str(fake))
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
    for heading in (
        "# What is in the picture?",
        "## Question 1",
        "### Summary",
        "### Caption",
        "### Reasoning",
        "### Answer",
    ):
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


def test_settings_dialog_round_trip(demo_window, qtbot):
    window = demo_window
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


def test_copy_and_preview(window, qtbot, scene_path):
    from stagelens.ui.thumbnails import ImagePreview

    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    preview = ImagePreview(window.strip.images[0], window)
    qtbot.addWidget(preview)
    texts = [w.text() for w in preview.findChildren(type(window.model_label))]
    assert any("Original 96 × 72 px · sent to the model 96 × 72 px" in t for t in texts)
    turn, card = ask_and_wait(qtbot, window)
    qtbot.mouseClick(card.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == turn.answer.trace.conclusion


def test_dark_palette_is_followed(demo_window, qtbot):
    from PySide6.QtGui import QColor, QPalette

    window = demo_window
    app = QApplication.instance()
    old = app.palette()
    dark = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.WindowText, "#e8eaed"),
        (QPalette.ColorRole.Base, "#2b2c2f"),
        (QPalette.ColorRole.Text, "#e8eaed"),
        (QPalette.ColorRole.Button, "#303134"),
        (QPalette.ColorRole.ButtonText, "#e8eaed"),
        (QPalette.ColorRole.Highlight, "#8ab4f8"),
        (QPalette.ColorRole.HighlightedText, "#202124"),
        (QPalette.ColorRole.PlaceholderText, "#9aa0a6"),
    ):
        dark.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        dark.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f7378"))
    dark.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#27282b"))
    try:
        app.setPalette(dark)
        app.setStyleSheet(stylesheet(dark))
        window.add_image_paths([demo_scene(3)])
        _turn, card = ask_and_wait(qtbot, window, "How many triangles are there?")
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


def unnamed_focusable(root) -> list[str]:
    """Every visible widget under root that takes keyboard focus but has no accessible name. The
    editors inside spin boxes and combo boxes are named through their owner."""
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget

    missing = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisible() or widget.focusPolicy() == Qt.FocusPolicy.NoFocus:
            continue
        if isinstance(widget.parent(), QAbstractSpinBox | QComboBox):
            continue
        if not widget.accessibleName():
            missing.append(f"{type(widget).__name__}:{widget.objectName()}:{getattr(widget, 'text', lambda: '')()}")
    return missing


def test_reasoning_expanded_preference_persists(make_window, qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("STAGELENS_HOME", str(tmp_path / "home"))
    save_settings(TINY_SETTINGS)
    window = make_window(from_file=True)
    assert not window.expanded_action.isChecked()
    _turn, card = ask_and_wait(qtbot, window)
    qtbot.mouseClick(card.panel.header, Qt.MouseButton.LeftButton)
    assert window.expanded_action.isChecked(), "the View menu shows the choice made on the panel"
    assert load_settings().reasoning_expanded

    second = make_window(from_file=True)
    assert second.expanded_action.isChecked()
    _turn, card = ask_and_wait(qtbot, second)
    assert card.panel.sections_box.isVisible(), "a new answer starts expanded"
    second.expanded_action.trigger()  # the menu turns it off, not on again
    assert not second.expanded_action.isChecked() and not second.settings.reasoning_expanded
    assert not load_settings().reasoning_expanded
    second.apply_settings(replace(second.settings, reasoning_expanded=True))  # from the Settings dialog
    assert second.expanded_action.isChecked() and load_settings().reasoning_expanded


def test_export_while_answering_leaves_the_unfinished_answer_out(window, qtbot, tmp_path):
    turn, card = ask_and_wait(qtbot, window, "What is in the picture?")
    assert window.export_action.isEnabled()
    window.apply_settings(replace(window.settings, preset="custom", beam=1, max_stage_tokens=700))
    seen: list[bool] = []

    def export_now(kind, _stage):
        if kind == "text" and not seen:
            seen.append(window.export_action.isEnabled())
            window.export_to(tmp_path / "live.md", "md")
            window.export_to(tmp_path / "live.json", "json")
            window.stop()

    window.live_updated.connect(export_now)
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(card.regenerate_button, Qt.MouseButton.LeftButton)
    window.live_updated.disconnect(export_now)
    assert seen == [False], "Export is disabled while an answer is being written"
    assert window.export_action.isEnabled()
    markdown = (tmp_path / "live.md").read_text(encoding="utf-8")
    assert "could not answer" not in markdown and "### Answer" in markdown
    data = json.loads((tmp_path / "live.json").read_text(encoding="utf-8"))
    exported = data["turns"][0]
    assert len(exported["answers"]) == 1 and exported["selected"] == 0
    assert exported["answers"][0]["trace"]["conclusion"] == turn.versions[0].trace.conclusion


def test_export_of_a_turn_with_only_an_unfinished_answer():
    from stagelens.session import Answer, Turn, export

    turn = Turn("Still thinking?", [], [Answer(live=True)], selected=0)
    markdown = export.to_markdown("Chat", [turn])
    assert "Still thinking?" in markdown and "could not answer" not in markdown and "None" not in markdown
    data = json.loads(export.to_json("Chat", [turn]))
    assert data["turns"][0]["answers"] == [] and data["turns"][0]["selected"] is None


def test_settings_offer_the_known_models(window, qtbot, tiny_model, monkeypatch, tmp_path):
    from stagelens.models.registry import InstalledModel, Registry

    monkeypatch.setenv("STAGELENS_MODELS_DIR", str(tmp_path / "models"))
    Registry().add(InstalledModel("tiny-q8", "Tiny installed", str(tiny_model.text), str(tiny_model.mmproj), "import"))
    dialog = SettingsDialog(window.settings, window.default_model_name(), window)
    qtbot.addWidget(dialog)
    combo = dialog.model_choice
    names = [combo.itemText(i) for i in range(combo.count())]
    demo = demo_model()
    assert names == [
        f"Default: {window.default_model_name()}",
        demo.name,
        "Tiny installed",
        "Other files (chosen below)",
    ]
    assert combo.currentIndex() == 0, "empty fields are the default model"
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    assert dialog.text_field.edit.text() == str(tiny_model.text)
    assert dialog.mmproj_field.edit.text() == str(tiny_model.mmproj)
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert dialog.text_field.edit.text() == str(demo.text)
    dialog.text_field.edit.setText(str(tmp_path / "elsewhere.gguf"))
    assert combo.currentText() == "Other files (chosen below)"
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    dialog._accept()
    assert dialog.result() == 1
    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        window.apply_settings(dialog.result_settings())
    assert window.settings.model_text == str(tiny_model.text)
    combo.setCurrentIndex(0)
    combo.activated.emit(0)
    assert dialog.text_field.edit.text() == "" and dialog.mmproj_field.edit.text() == ""


def test_model_failure_banner_opens_the_models_dialog(make_window, qtbot, tiny_model, monkeypatch, tmp_path):
    from PySide6.QtCore import QObject, Signal

    import stagelens.ui.models_dialog as models_dialog

    opened: list[bool] = []

    class FakeModelsDialog(QObject):
        model_chosen = Signal(str, str)
        gpu_layers_chosen = Signal(object)

        def exec(self):
            opened.append(True)
            self.model_chosen.emit(str(tiny_model.text), str(tiny_model.mmproj))
            return 1

    monkeypatch.setattr(models_dialog, "ModelsDialog", FakeModelsDialog)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file")
    window = make_window(model_text=str(fake), model_mmproj=str(fake))
    assert window.banner.isVisible() and window.banner_models.isVisible()
    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.banner_models, Qt.MouseButton.LeftButton)
    assert opened and window.model_ready and not window.banner.isVisible()
    assert window.settings.model_text == str(tiny_model.text)


def test_ctrl_o_adds_the_chosen_images(window, qtbot, scene_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked: list[str] = []

    def choose(parent, caption, *args):
        asked.append(caption)
        return [str(scene_path)], "Images"

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(choose))
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["Add images"]
    assert [i.name for i in window.strip.images] == ["scene.png"]


def test_ctrl_comma_opens_settings_and_applies_them(window, qtbot, monkeypatch):
    def exec_with_changes(dialog):
        dialog.beam.setValue(3)
        dialog.temperature.setValue(1.25)
        return 1

    monkeypatch.setattr(SettingsDialog, "exec", exec_with_changes)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert window.settings.beam == 3 and window.settings.temperature == 1.25


def test_ctrl_e_exports_in_the_format_chosen_in_the_dialog(window, qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    turn, _card = ask_and_wait(qtbot, window, "What is here?")
    target = tmp_path / "exported"

    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(target), "JSON with full traces (*.json)"))
    )
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    data = json.loads((tmp_path / "exported.json").read_text(encoding="utf-8"))
    assert data["turns"][0]["question"] == "What is here?"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(target), "Markdown with stages (*.md)"))
    )
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert (tmp_path / "exported.md").read_text(encoding="utf-8").startswith("# What is here?")


def test_sidebar_buttons_and_context_menu(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QMenu, QMessageBox

    import stagelens.ui.sidebar as sidebar_module

    ask_and_wait(qtbot, window, "about zebras")
    first = window.conversation.id
    window.new_chat()
    ask_and_wait(qtbot, window, "about giraffes")
    sidebar = window.sidebar

    def item_titled(title):
        return next(sidebar.list.item(i) for i in range(sidebar.list.count()) if sidebar.list.item(i).text() == title)

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *args, **kw: ("Zebra chat", True)))
    rect = sidebar.list.visualItemRect(item_titled("about zebras"))
    qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.conversation.id == first and sidebar.rename_button.isEnabled()
    qtbot.mouseClick(sidebar.rename_button, Qt.MouseButton.LeftButton)
    assert window.history.conversation(first).title == "Zebra chat" and "Zebra chat" in window.windowTitle()

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args: QMessageBox.StandardButton.No))
    qtbot.mouseClick(sidebar.delete_button, Qt.MouseButton.LeftButton)
    assert window.history.conversation(first) is not None, "No keeps the conversation"
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args: QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(sidebar.delete_button, Qt.MouseButton.LeftButton)
    assert window.history.conversation(first) is None and window.conversation.id is None

    chosen: list[str] = []

    def pick(text):
        class PickingMenu(QMenu):  # the user picks `text` from the real menu
            def exec(self, *args):
                action = next(a for a in self.actions() if a.text() == text)
                chosen.append(text)
                action.trigger()

        return PickingMenu

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *args, **kw: ("Giraffe chat", True)))
    monkeypatch.setattr(sidebar_module, "QMenu", pick("Rename…"))
    sidebar.list.customContextMenuRequested.emit(sidebar.list.visualItemRect(item_titled("about giraffes")).center())
    assert chosen == ["Rename…"] and [r.title for r in window.history.list_conversations()] == ["Giraffe chat"]
    monkeypatch.setattr(sidebar_module, "QMenu", pick("Delete"))
    sidebar.list.customContextMenuRequested.emit(sidebar.list.visualItemRect(item_titled("Giraffe chat")).center())
    assert window.history.list_conversations() == []
    assert [sidebar.list.item(i).text() for i in range(sidebar.list.count())] == ["No conversations yet"]


def test_try_a_sample_image_then_ask(demo_window, qtbot):
    window = demo_window
    assert window.empty.isVisible()
    qtbot.mouseClick(window.sample_button, Qt.MouseButton.LeftButton)
    wait_images(qtbot, window)
    assert len(window.strip.valid_images()) == 1
    assert window.question.text() == "How many shapes are there?", "a question the demo model was taught"
    sample = window.strip.images[0].name
    assert sample == "scene-1.png", "a scene the demo model knows"
    assert not window.empty.isVisible()
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.question.send_button, Qt.MouseButton.LeftButton)
    turn = window.conversation.turns[-1]
    assert [i.name for i in turn.images] == [sample]
    assert turn.answer.trace is not None and turn.answer.trace.conclusion
    shot(window, "11-sample-answered")


def test_settings_fields_take_effect(window, qtbot, scene_path, monkeypatch):
    def exec_with_changes(dialog):
        dialog.temperature.setValue(0.3)
        dialog.gpu_layers.setValue(2)
        dialog.threads.setValue(1)
        dialog.n_ctx.setValue(3072)
        dialog.image_side.setValue(64)
        return 1

    monkeypatch.setattr(SettingsDialog, "exec", exec_with_changes)
    with qtbot.waitSignal(window.model_loaded, timeout=TIMEOUT_MS):
        window.open_settings()
    loaded = window.engine.worker._engine.settings
    assert (loaded.n_gpu_layers, loaded.n_threads, loaded.n_ctx, loaded.image_max_side) == (2, 1, 3072, 64)
    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    assert window.strip.images[0].sent_size == (64, 48)
    turn, _card = ask_and_wait(qtbot, window)
    trace = turn.answer.trace
    assert trace.settings["temperature"] == 0.3
    assert trace.images[0]["sent_size"] == [64, 48]


def test_every_focusable_control_has_an_accessible_name(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    turn, card = ask_and_wait(qtbot, window)
    card.panel.set_expanded(True)
    qtbot.mouseClick(card.inspector_button, Qt.MouseButton.LeftButton)
    window.add_image_paths([scene_path])
    assert card.inspector.isVisible()
    missing = unnamed_focusable(window)
    assert not missing, missing
    dialog = SettingsDialog(window.settings, window.default_model_name(), window)
    qtbot.addWidget(dialog)
    dialog.show()
    missing = unnamed_focusable(dialog)
    assert not missing, missing


def test_image_preview_controls_have_accessible_names(window, qtbot, scene_path):
    from stagelens.ui.thumbnails import ImagePreview

    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    preview = ImagePreview(window.strip.images[0], window)
    qtbot.addWidget(preview)
    preview.show()
    missing = unnamed_focusable(preview)
    assert not missing, missing


def test_durations_read_as_people_read_them():
    from stagelens.ui.stage_panel import format_duration

    assert format_duration(2.44) == "2.4 s" and format_duration(0.1234, digits=2) == "0.12 s"
    assert format_duration(0.0456) == "46 ms" and format_duration(0.0002) == "<1 ms"


def test_a_reopened_conversation_reads_its_images_in_the_background(window, qtbot, scene_path):
    window.add_image_paths([scene_path])
    turn, _card = ask_and_wait(qtbot, window, "What is this?")
    first = window.conversation.id
    window.new_chat()
    window.open_conversation(first)
    [reopened] = window.conversation.turns
    assert reopened is not turn and reopened.question == "What is this?"
    card = window._card_for(reopened)
    qtbot.waitUntil(lambda: card.thumbs[0].objectName() == "thumb", timeout=TIMEOUT_MS)
    assert reopened.images[0].digest == turn.images[0].digest, "the same pixels as were sent"
    assert card.conclusion.text() == reopened.answer.trace.conclusion
    _follow, follow_card = ask_and_wait(qtbot, window, "And the colour?")
    assert _follow.answer.trace is not None and follow_card.conclusion.text()
