"""The main window: it assembles the views of the session (sidebar, conversation, image strip,
question box, status bar), the menus and the dialogs. What the conversation holds, which model
answers it, with which settings, and what is saved belong to the session (stagelens.session);
the window turns user actions into session calls and session events into what is shown."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QMimeData, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QMainWindow, QSplitter, QVBoxLayout, QWidget

from stagelens.history import HistoryStore
from stagelens.images import ChatImage, ImageLoader
from stagelens.models.default import ModelChoice
from stagelens.session import Answer, Conversation, LoadedModel, Runner, RunningAnswer, Session, Turn
from stagelens.settings import AppSettings, SettingsRead, read_settings_file, save_settings
from stagelens.ui.answer_view import AnswerCard
from stagelens.ui.bridge import ImageEvents, QtRunner
from stagelens.ui.conversation_view import ConversationView
from stagelens.ui.drop_overlay import DropOverlay
from stagelens.ui.empty_state import EmptyState
from stagelens.ui.export_dialog import choose_and_export, export_conversation
from stagelens.ui.guard import guarded
from stagelens.ui.history_watch import HistoryWatch, open_history
from stagelens.ui.icons import refresh_icons
from stagelens.ui.image_intake import ImageIntake
from stagelens.ui.image_strip import ImageStrip
from stagelens.ui.images_input import mime_has_images
from stagelens.ui.menus import MenuHandlers, build_menus
from stagelens.ui.model_banner import ModelBanner
from stagelens.ui.model_picker import ModelPicker
from stagelens.ui.notice_banner import NoticeBanner
from stagelens.ui.preset_bar import PresetBar
from stagelens.ui.question_box import QuestionBox
from stagelens.ui.sidebar import Sidebar
from stagelens.ui.status_line import StatusLine
from stagelens.ui.theme import apply_theme
from stagelens.ui.typescale import SPACE

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    model_loaded = Signal()
    answer_finished = Signal(object)  # Turn
    live_updated = Signal(str, str)  # event kind, stage: the answer on screen was just updated

    def __init__(
        self,
        history: HistoryStore | None = None,
        settings: AppSettings | None = None,
        model: ModelChoice | None = None,
        save_settings_file: bool = True,
        runner: Runner | None = None,
    ) -> None:
        """runner: what produces the answers (default: the engine on its own thread, ui/bridge.py)."""
        super().__init__()
        self.setWindowTitle("StageLens")
        self.setObjectName("mainWindow")
        self.setAccessibleName("StageLens")
        self.setAcceptDrops(True)
        self.resize(1100, 760)
        # the user's data first: nothing below may fail with the engine thread already started
        self.history, history_problem = (history, None) if history is not None else open_history()
        self._save_settings_file = save_settings_file
        settings_read = read_settings_file() if settings is None else SettingsRead(settings)
        self.engine = runner if runner is not None else QtRunner(self)
        try:
            self._assemble(settings_read, model, history_problem)
        except BaseException:
            self.engine.close()  # a window that failed to start leaves no thread running
            raise

    def _assemble(self, settings_read: SettingsRead, model: ModelChoice | None, history_problem: str | None) -> None:
        self.image_events = ImageEvents(self)
        self.session = Session(self.engine, self.history, ImageLoader(), settings_read.settings, model_override=model)
        if self.settings.theme != "system":
            apply_theme(QGuiApplication.instance(), self.settings.theme)  # type: ignore[arg-type]
        self._build_ui()
        notices = {"settings": settings_read.notice, "unavailable": history_problem}
        self.history_watch = HistoryWatch(self.session, self.notices, self.statusBar(), self, notices)
        self.menu_actions = build_menus(self, self._menu_handlers(), self.settings.reasoning_expanded)
        self.new_action, self.export_action = self.menu_actions.new, self.menu_actions.export
        self.expanded_action = self.menu_actions.expanded
        self._observe_session()
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(self.settings.window_geometry.encode()))
        self.refresh_sidebar()
        self._show_conversation(self.session.conversation)
        QTimer.singleShot(0, self.load_model)

    # -------------------------------------------------- what the session holds
    @property
    def settings(self) -> AppSettings:
        return self.session.settings

    @settings.setter
    def settings(self, value: AppSettings) -> None:
        self.session.settings = value

    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    @property
    def running(self) -> RunningAnswer | None:
        return self.session.running

    @property
    def model(self) -> ModelChoice | None:
        return self.session.model

    @property
    def model_ready(self) -> bool:
        return self.session.model_ready

    @property
    def backend(self) -> str:
        return self.session.backend

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        splitter = QSplitter(self)
        splitter.setChildrenCollapsible(False)
        self.sidebar = Sidebar(splitter)
        self.sidebar.new_clicked.connect(self.new_chat)
        self.sidebar.open_requested.connect(guarded(self.open_conversation))
        self.sidebar.rename_requested.connect(guarded(self.rename_conversation))
        self.sidebar.delete_requested.connect(guarded(self.delete_conversation))
        self.sidebar.search_changed.connect(guarded(lambda _text: self.refresh_sidebar()))

        right = QWidget(splitter)
        right.setObjectName("conversationColumn")
        column = QVBoxLayout(right)
        column.setContentsMargins(SPACE[4], SPACE[2], SPACE[4], SPACE[3])
        column.setSpacing(SPACE[2])
        self.model_picker = ModelPicker(self.session, right)
        self.model_picker.model_chosen.connect(guarded(self.use_model_files))
        self.model_picker.more_models.connect(guarded(self.open_models_manager))
        self.model_picker.other_files.connect(guarded(self.open_settings))
        column.addWidget(self.model_picker)
        self.banner = ModelBanner(right)
        self.banner_text, self.banner_default = self.banner.text, self.banner.default
        self.banner_models = self.banner.models
        self.banner.pick_clicked.connect(self.open_settings)
        self.banner.default_clicked.connect(guarded(self.use_default_model))
        self.banner.models_clicked.connect(guarded(self.open_models_manager))
        column.addWidget(self.banner)
        self.notices = NoticeBanner(right)
        column.addWidget(self.notices)

        self.conversation_view = ConversationView(self.session, self.image_events, right)
        self.conversation_view.reasoning_toggled.connect(guarded(self.remember_expanded))
        column.addWidget(self.conversation_view, 1)
        self.empty = EmptyState(right)
        self.sample_button = self.empty.sample_button
        self.empty.sample_clicked.connect(guarded(self.add_sample_image))
        self.empty.add_clicked.connect(self.pick_images)
        column.addWidget(self.empty, 1)

        self.strip = ImageStrip(self.session.loader, self.image_events, right)
        column.addWidget(self.strip)
        self.preset_bar = PresetBar(self.session, right)
        self.preset_bar.preset_chosen.connect(guarded(self.use_preset))
        column.addWidget(self.preset_bar)
        self.question = QuestionBox(right)
        self.question.send_clicked.connect(guarded(self.send))
        self.question.stop_clicked.connect(self.stop)
        self.question.add_images_clicked.connect(self.pick_images)
        self.question.edit.submit.connect(guarded(self.send))
        self.question.edit.images_pasted.connect(guarded(self.add_from_mime))
        self.question.edit.textChanged.connect(self._update_send_enabled)
        self.strip.changed.connect(self._update_send_enabled)
        self.strip.changed.connect(self._update_empty_state)
        column.addWidget(self.question)

        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 870])
        self.setCentralWidget(splitter)

        self.intake = ImageIntake(
            self.session, self.strip, self.image_events, self.statusBar(), added=self._update_send_enabled
        )
        self.drop_overlay = DropOverlay(self, self.intake.add_dropped)  # it takes the window's drag and drop events
        self.status = StatusLine(self.session, self.statusBar())
        self.model_label, self.backend_label = self.status.model_label, self.status.backend_label
        self.speed_label = self.status.speed_label
        self.question.edit.setFocus()
        self._update_send_enabled()

    def _menu_handlers(self) -> MenuHandlers:
        return MenuHandlers(
            new_chat=self.new_chat,
            pick_images=self.pick_images,
            export=self.export_dialog,
            settings=self.open_settings,
            models=self.open_models_manager,
            quit=self.close,
            paste=self.paste,
            stop=self.stop,
            reasoning_expanded=self.remember_expanded,
        )

    def _observe_session(self) -> None:
        """After the views, so they are up to date when the window's own signals go out."""
        s = self.session
        s.model_loading.connect(guarded(lambda _model: self._update_send_enabled()))
        s.model_loaded.connect(guarded(self._on_loaded))
        s.model_failed.connect(guarded(self._on_load_failed))
        s.conversation_opened.connect(guarded(self._show_conversation))
        s.conversations_changed.connect(guarded(self.refresh_sidebar))
        s.turn_added.connect(guarded(lambda _turn: self._update_empty_state()))
        s.answer_started.connect(guarded(lambda _turn, _answer: self._set_answering(True)))
        s.answer_updated.connect(guarded(lambda _turn, _answer, event: self.live_updated.emit(event.kind, event.stage)))
        s.answer_finished.connect(guarded(self._on_answer_finished))

    def _card_for(self, turn: Turn) -> AnswerCard | None:
        return self.conversation_view.card_for(turn)

    # --------------------------------------------------------------- model
    def load_model(self) -> None:
        self.session.load_model()

    def default_model_name(self) -> str:
        return self.session.default_model_name()

    def _on_loaded(self, _loaded: LoadedModel) -> None:
        self.banner.setVisible(False)
        self._update_send_enabled()
        self.model_loaded.emit()

    def _on_load_failed(self, message: str) -> None:
        self.banner.show_problem(message, custom_model=bool(self.settings.model_text))
        self._update_send_enabled()

    def use_default_model(self) -> None:
        self.use_model_files("", "")

    def use_model_files(self, text: str, mmproj: str) -> None:
        """Answer with these files from the next question ("", "": the default model); no restart."""
        self.apply_settings(replace(self.settings, model_text=str(text), model_mmproj=str(mmproj)))

    def open_models_manager(self) -> None:
        from stagelens.ui.models_dialog import ModelsDialog  # imports huggingface-hub: only when asked

        self.open_models(ModelsDialog)

    def open_models(self, dialog_class) -> None:
        dialog = dialog_class(self)
        dialog.model_chosen.connect(guarded(self.use_model_files))
        dialog.gpu_layers_chosen.connect(guarded(self._gpu_layers_chosen))
        dialog.exec()

    def _gpu_layers_chosen(self, value) -> None:
        if value == "auto":
            self.apply_settings(replace(self.settings, gpu_auto=True))
        else:
            self.apply_settings(replace(self.settings, gpu_auto=False, n_gpu_layers=int(value)))

    # ------------------------------------------------------------- images
    def add_images(self, images: list[ChatImage]) -> None:
        """Into the strip at once, as "Loading…" until read in the background."""
        self.intake.add(images)

    def add_image_paths(self, paths: list[str | Path]) -> None:
        self.intake.add_paths(paths)

    def add_from_mime(self, mime: QMimeData) -> None:
        self.intake.add_mime(mime)

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime_has_images(mime):
            self.add_from_mime(mime)
        elif mime is not None and mime.hasText():
            self.question.edit.insertPlainText(mime.text())

    def pick_images(self) -> None:
        self.intake.pick(self)

    def add_sample_image(self) -> None:
        question = self.intake.add_sample()
        if question and not self.question.text().strip():
            self.question.edit.setPlainText(question)

    # -------------------------------------------------------------- asking
    def _update_send_enabled(self) -> None:
        if self.question.answering:
            self.question.send_button.setEnabled(True)
            return
        ready = self.model_ready and bool(self.question.text().strip())
        self.question.send_button.setEnabled(ready)
        if not self.model_ready:
            self.question.send_button.setToolTip("Waiting for the model to load")

    def send(self) -> None:
        if self.running is not None:
            return
        question = self.question.text().strip()
        if not question:
            return
        if not self.model_ready:
            self.statusBar().showMessage("The model is not loaded yet", 4000)
            return
        images = self.strip.to_send()
        skipped = len(self.strip.images) - len(images)
        self.question.edit.clear()
        self.strip.clear()
        if skipped:
            self.statusBar().showMessage(f"{skipped} image(s) not sent: unreadable or still downloading", 6000)
        self.session.ask(question, images)

    def ask(self, question: str) -> None:
        """Type a question and send it (used by --self-test and tests)."""
        self.question.edit.setPlainText(question)
        self.send()

    def regenerate(self, turn: Turn) -> None:
        self.session.regenerate(turn)

    def stop(self) -> None:
        if self.session.stop():
            self.statusBar().showMessage("Stopping…", 2000)

    def _set_answering(self, answering: bool) -> None:
        self.question.set_answering(answering)
        self._update_send_enabled()
        self._update_export_enabled()

    def _on_answer_finished(self, turn: Turn, _answer: Answer, _save_error: str | None) -> None:
        self._set_answering(False)
        self._update_title()
        self.answer_finished.emit(turn)

    # ------------------------------------------------------- conversations
    def refresh_sidebar(self) -> None:
        rows = self.session.conversations(self.sidebar.search.text())
        self.sidebar.set_conversations(rows, self.conversation.id)
        self._update_title()

    def new_chat(self) -> None:
        self.session.new()
        self.strip.clear()
        self.question.edit.clear()
        self.question.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        self.session.open(conversation_id)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self.session.rename(conversation_id, title)

    def delete_conversation(self, conversation_id: int) -> None:
        was_open = self.conversation.id == conversation_id
        self.session.delete(conversation_id)
        if was_open:  # as New chat: nothing of the deleted conversation is left to send
            self.strip.clear()
            self.question.edit.clear()

    def _show_conversation(self, conversation: Conversation) -> None:
        self.sidebar.select(conversation.id)
        self._update_title()
        self._update_empty_state()
        self._update_export_enabled()

    def _update_title(self) -> None:
        conversation = self.conversation
        self.setWindowTitle(f"{conversation.title} — StageLens" if conversation.id else "StageLens")

    def _update_empty_state(self) -> None:
        """ "Ask about an image" only while there is neither a conversation nor an image to ask about."""
        empty = not self.conversation.turns and not self.strip.images
        self.conversation_view.setVisible(not empty)
        self.empty.setVisible(empty)

    def _update_export_enabled(self) -> None:
        # an answer being written would be exported half done
        self.export_action.setEnabled(bool(self.conversation.turns) and self.running is None)

    # ------------------------------------------------------------ settings
    def open_settings(self) -> None:
        from stagelens.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.default_model_name(), self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: AppSettings) -> None:
        resized = new.image_max_side != self.settings.image_max_side
        if new.theme != self.settings.theme:
            apply_theme(QGuiApplication.instance(), new.theme)  # type: ignore[arg-type]
            refresh_icons(self)
        self.session.apply_settings(new)
        if resized:
            self.strip.replace_all(self.session.resize_images(self.strip.images))
        self._sync_expanded()
        self._store_settings()
        self.conversation_view.refresh()
        self.preset_bar.refresh()

    def use_preset(self, name: str) -> None:
        """Search the next questions with answer preset `name` (fast, balanced, thorough, custom)."""
        self.apply_settings(replace(self.settings, preset=name))

    def remember_expanded(self, expanded: bool) -> None:
        self.session.settings = replace(self.settings, reasoning_expanded=expanded)
        self._sync_expanded()
        self._store_settings()

    def _sync_expanded(self) -> None:
        self.expanded_action.setChecked(self.settings.reasoning_expanded)
        self.conversation_view.set_reasoning_expanded(self.settings.reasoning_expanded)

    def _store_settings(self) -> None:
        if not self._save_settings_file:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings could not be saved: {exc}", 6000)

    # -------------------------------------------------------------- export
    def export_dialog(self) -> None:
        if self.conversation.turns and self.running is None:  # an answer being written would be half done
            choose_and_export(self, self.conversation)

    def export_to(self, path: Path, fmt: str) -> None:
        export_conversation(self.conversation, path, fmt)
        self.statusBar().showMessage(f"Exported to {path}", 5000)

    # ------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        geometry = bytes(self.saveGeometry().toHex().data()).decode()
        self.session.settings = replace(self.settings, window_geometry=geometry)
        self._store_settings()
        self.history_watch.close()
        super().closeEvent(event)
