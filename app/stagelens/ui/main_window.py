"""The main window: sidebar of conversations, the conversation, images and question box;
it wires the engine worker, the history store and the settings together."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from stagelens.engine import LoadSettings, SearchSettings, Trace
from stagelens.fileio import write_atomic
from stagelens.history import AnswerRecord, HistoryStore, StoredImage, TurnRecord
from stagelens.models.default import ModelChoice
from stagelens.settings import AppSettings, load_settings, max_beam_for, save_settings
from stagelens.ui import export
from stagelens.ui.answer_view import AnswerCard
from stagelens.ui.conversation import AnswerVersion, TurnState
from stagelens.ui.guard import guarded
from stagelens.ui.image_strip import ImageStrip
from stagelens.ui.images_input import PendingImage, image_from_path, images_from_mime, mime_has_images
from stagelens.ui.question_box import QuestionBox
from stagelens.ui.sidebar import Sidebar
from stagelens.ui.stage_panel import format_duration
from stagelens.ui.worker import AskJob, EngineThread, HistoryInput, ImageInput

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff);;All files (*)"
TITLE_CHARS = 60


@dataclass
class ConversationState:
    id: int | None = None
    title: str = "New chat"
    turns: list[TurnState] = field(default_factory=list)
    deleted: bool = False


@dataclass
class RunningJob:
    job: AskJob
    conversation: ConversationState
    turn: TurnState
    version: AnswerVersion
    regenerate: bool


class MainWindow(QMainWindow):
    model_loaded = Signal()
    answer_finished = Signal(object)  # TurnState
    live_updated = Signal(str, str)  # event kind, stage: the answer on screen was just updated

    def __init__(
        self,
        history: HistoryStore | None = None,
        settings: AppSettings | None = None,
        model: ModelChoice | None = None,
        save_settings_file: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("StageLens")
        self.setObjectName("mainWindow")
        self.setAccessibleName("StageLens")
        self.setAcceptDrops(True)
        self.resize(1100, 760)
        self.history = history if history is not None else HistoryStore()
        self.settings = settings if settings is not None else load_settings()
        self._save_settings_file = save_settings_file
        self._model_override = model
        self.model: ModelChoice | None = None
        self.model_ready = False
        self.backend = ""
        self.conversation = ConversationState()
        self.cards: list[AnswerCard] = []
        self.running: RunningJob | None = None
        self._job_ids = itertools.count(1)
        self._pending_reload = False
        self._paste_counter = itertools.count(1)

        self.engine = EngineThread(self)
        self.engine.worker.loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)
        self.engine.worker.load_failed.connect(self._on_load_failed, Qt.ConnectionType.QueuedConnection)
        self.engine.worker.stage_event.connect(self._on_stage_event, Qt.ConnectionType.QueuedConnection)
        self.engine.worker.answered.connect(self._on_answered, Qt.ConnectionType.QueuedConnection)
        self.engine.worker.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)

        self._build_ui()
        self._build_actions()
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(self.settings.window_geometry.encode()))
        self.refresh_sidebar()
        self.show_conversation()
        QTimer.singleShot(0, self.load_model)

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
        column = QVBoxLayout(right)
        column.setContentsMargins(12, 8, 12, 10)
        column.setSpacing(6)

        self.banner = QFrame(right)
        self.banner.setObjectName("banner")
        self.banner.setAccessibleName("Model problem")
        banner_row = QHBoxLayout(self.banner)
        self.banner_text = QLabel(self.banner)
        self.banner_text.setWordWrap(True)
        self.banner_text.setAccessibleName("Model problem explanation")
        self.banner_pick = QPushButton("Choose model files…", self.banner)
        self.banner_pick.setAccessibleName("Choose other model files")
        self.banner_pick.clicked.connect(self.open_settings)
        self.banner_default = QPushButton("Use default model", self.banner)
        self.banner_default.setAccessibleName("Use the default model")
        self.banner_default.clicked.connect(guarded(self.use_default_model))
        self.banner_models = QPushButton("Models…", self.banner)
        self.banner_models.setAccessibleName("Open the model manager")
        self.banner_models.setToolTip("Choose, download or import a model")
        self.banner_models.clicked.connect(guarded(self.open_models_manager))
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(self.banner_models)
        banner_row.addWidget(self.banner_pick)
        banner_row.addWidget(self.banner_default)
        self.banner.setVisible(False)
        column.addWidget(self.banner)

        self.scroll = QScrollArea(right)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setAccessibleName("Conversation")
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thread_widget = QWidget(self.scroll)
        self.thread_layout = QVBoxLayout(self.thread_widget)
        self.thread_layout.setContentsMargins(4, 4, 12, 4)
        self.thread_layout.setSpacing(8)
        self.thread_layout.addStretch(1)
        self.scroll.setWidget(self.thread_widget)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._follow_bottom)
        column.addWidget(self.scroll, 1)

        self.empty = self._build_empty_state(right)
        column.addWidget(self.empty, 1)

        self.strip = ImageStrip(right, max_side=self.max_side)
        self.strip.download_failed.connect(lambda message: self.statusBar().showMessage(message, 6000))
        column.addWidget(self.strip)
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

        self.drop_overlay = QLabel("Drop images to add them", self)
        self.drop_overlay.setObjectName("dropOverlay")
        self.drop_overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_overlay.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.drop_overlay.setVisible(False)

        status = self.statusBar()
        self.model_label = QLabel("Loading model…", status)
        self.model_label.setAccessibleName("Model")
        self.backend_label = QLabel("", status)
        self.backend_label.setAccessibleName("Backend")
        self.speed_label = QLabel("", status)
        self.speed_label.setAccessibleName("Speed of the last answer")
        for label in (self.model_label, self.backend_label, self.speed_label):
            label.setObjectName("statusItem")  # the theme separates the items
            status.addPermanentWidget(label)
        self._set_status_item(self.backend_label, "")
        self._set_status_item(self.speed_label, "")
        self.question.edit.setFocus()
        self._update_send_enabled()

    def _build_empty_state(self, parent: QWidget) -> QWidget:
        empty = QWidget(parent)
        empty.setAccessibleName("Getting started")
        layout = QVBoxLayout(empty)
        layout.addStretch(2)
        title = QLabel("Ask about an image", empty)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Drop images anywhere in this window, paste them with Ctrl+V, or add them with Ctrl+O.\n"
            "Answers are reasoned in stages — open “Reasoning” above an answer to see them.",
            empty,
        )
        text.setObjectName("emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.sample_button = QPushButton("Try a sample image", empty)
        self.sample_button.setAccessibleName("Add a sample image")
        self.sample_button.clicked.connect(guarded(self.add_sample_image))
        add = QPushButton("Add images…", empty)
        add.setAccessibleName("Add images")
        add.clicked.connect(self.pick_images)
        row.addWidget(self.sample_button)
        row.addWidget(add)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(3)
        return empty

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action(file_menu, "&New chat", QKeySequence.StandardKey.New, self.new_chat)
        self._action(file_menu, "&Add images…", QKeySequence.StandardKey.Open, self.pick_images)
        self.export_action = self._action(
            file_menu, "&Export conversation…", QKeySequence("Ctrl+E"), self.export_dialog
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        self._action(file_menu, "&Models…", None, self.open_models_manager)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        paste = self._action(edit_menu, "&Paste images", QKeySequence.StandardKey.Paste, self.paste)
        paste.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._action(edit_menu, "&Stop answering", None, self.stop)
        view_menu = self.menuBar().addMenu("&View")
        self.expanded_action = self._action(
            view_menu,
            "Show &reasoning expanded",
            None,
            self._remember_expanded,
            checkable=True,
            checked=self.settings.reasoning_expanded,
        )
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.stop_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_shortcut.activated.connect(self.stop)

    def _action(self, menu, text: str, key, slot, checkable: bool = False, checked: bool = False) -> QAction:
        action = QAction(text, self)
        if key is not None:
            action.setShortcut(QKeySequence(key))
        action.setCheckable(checkable)
        action.setChecked(checked)
        if checkable:  # the slot gets the new check state, never a flip of what it remembers
            action.triggered.connect(guarded(lambda *_: slot(action.isChecked())))
        else:
            action.triggered.connect(guarded(lambda *_: slot()))
        menu.addAction(action)
        self.addAction(action)
        return action

    # --------------------------------------------------------------- model
    def current_model(self) -> ModelChoice | None:
        if self.settings.model_text and self.settings.model_mmproj:
            return ModelChoice(
                Path(self.settings.model_text).stem,
                Path(self.settings.model_text),
                Path(self.settings.model_mmproj),
                "local",
            )
        if self._model_override is not None:
            return self._model_override
        from stagelens.models.default import default_model

        return default_model()

    def open_models_manager(self) -> None:
        from stagelens.ui.models_dialog import ModelsDialog  # imports huggingface-hub: only when asked

        self.open_models(ModelsDialog)

    def open_models(self, dialog_class) -> None:
        dialog = dialog_class(self)
        dialog.model_chosen.connect(
            guarded(
                lambda text, mmproj: self.apply_settings(
                    replace(self.settings, model_text=str(text), model_mmproj=str(mmproj))
                )
            )
        )
        dialog.gpu_layers_chosen.connect(guarded(self._gpu_layers_chosen))
        dialog.exec()

    def _gpu_layers_chosen(self, value) -> None:
        if value == "auto":
            self.apply_settings(replace(self.settings, gpu_auto=True))
        else:
            self.apply_settings(replace(self.settings, gpu_auto=False, n_gpu_layers=int(value)))

    def gpu_layers(self, model: ModelChoice) -> int:
        if not self.settings.gpu_auto:
            return self.settings.n_gpu_layers
        try:
            from stagelens.models.gpu import resolve_gpu_layers

            return resolve_gpu_layers("auto", model.text, model.mmproj, self.settings.n_ctx)
        except Exception as exc:  # the planner is optional; fall back to the number in Settings
            log.warning("automatic GPU layers failed: %s", exc)
            return self.settings.n_gpu_layers

    def default_model_name(self) -> str:
        if self._model_override is not None:
            return self._model_override.name
        from stagelens.models.default import demo_model

        demo = demo_model()
        return demo.name if demo is not None else "Test model (random weights)"

    def load_model(self) -> None:
        self.model_ready = False
        self._update_send_enabled()
        try:
            self.model = self.current_model()
        except Exception as exc:
            log.exception("no model")
            self._on_load_failed(f"No model is available: {exc}")
            return
        if self.model is None:
            self._on_load_failed("No model is installed. Choose a text model and its vision projector.")
            return
        self.model_label.setText(f"Loading {self.model.name}…")
        s = self.settings
        load = LoadSettings(
            str(self.model.text),
            str(self.model.mmproj),
            n_gpu_layers=self.gpu_layers(self.model),
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            max_beam=max_beam_for(s.beam),
            image_max_side=s.image_max_side,
        )
        self.engine.load_requested.emit(load)

    @guarded
    def _on_loaded(self, desc: str, backend: str) -> None:
        self.model_ready = True
        self.backend = backend
        self.banner.setVisible(False)
        model = self.model
        name = model.name if model else desc
        self.model_label.setText(name)
        self.model_label.setToolTip(f"{model.text if model else ''}\n{desc}")
        if model is not None and model.is_placeholder:
            self.model_label.setToolTip(
                "Random weights for testing: answers are meaningless. Choose a real model in Settings (Ctrl+,)."
            )
        self._set_status_item(self.backend_label, backend)
        self._update_send_enabled()
        self.statusBar().showMessage("Model ready", 3000)
        self.model_loaded.emit()

    @guarded
    def _on_load_failed(self, message: str) -> None:
        self.model_ready = False
        self.model_label.setText("No model loaded")
        self._set_status_item(self.backend_label, "")
        self.banner_text.setText(f"<b>The model could not be loaded.</b><br>{_html(message)}")
        custom = bool(self.settings.model_text)
        self.banner_default.setVisible(custom)
        self.banner.setVisible(True)
        self._update_send_enabled()

    def use_default_model(self) -> None:
        self.apply_settings(replace(self.settings, model_text="", model_mmproj=""))

    # ------------------------------------------------------------- images
    def max_side(self) -> int:
        return self.settings.image_max_side

    def add_images(self, images: list[PendingImage]) -> None:
        self.strip.add(images)
        bad = [i for i in images if not i.ok]
        if bad:
            self.statusBar().showMessage(bad[0].error or "", 6000)
        self._update_send_enabled()

    def add_image_paths(self, paths: list[str | Path]) -> None:
        self.add_images([image_from_path(p, self.max_side()) for p in paths])

    def add_from_mime(self, mime) -> None:
        images = images_from_mime(mime, self.max_side(), next(self._paste_counter))
        if images:
            self.add_images(images)
        else:
            self.statusBar().showMessage("Nothing to add: that is not an image", 4000)

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime_has_images(mime):
            self.add_from_mime(mime)
        elif mime is not None and mime.hasText():
            self.question.edit.insertPlainText(mime.text())

    def pick_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add images", "", IMAGE_FILTER)
        if paths:
            self.add_image_paths(paths)

    def add_sample_image(self) -> None:
        from stagelens.resources import sample_images

        # the demo model only knows its 64x64 shape scenes: give it one of those and a question it was taught
        demo = self.model is not None and self.model.kind == "demo"
        first, question = (
            ("scene-1.png", "How many shapes are there?")
            if demo
            else ("shapes.png", "What shapes are in this picture?")
        )
        samples = sorted(sample_images(), key=lambda p: p.name != first)
        if samples:
            self.add_image_paths([samples[0]])
            if not self.question.text().strip():
                self.question.edit.setPlainText(question)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if mime_has_images(event.mimeData()):
            event.acceptProposedAction()
            self.drop_overlay.setGeometry(self.centralWidget().geometry().adjusted(20, 20, -20, -20))
            self.drop_overlay.raise_()
            self.drop_overlay.setVisible(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.drop_overlay.setVisible(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.drop_overlay.setVisible(False)
        try:
            self.add_from_mime(event.mimeData())
            event.acceptProposedAction()
        except Exception as exc:
            log.exception("drop failed")
            self.statusBar().showMessage(f"Could not add the dropped items: {exc}", 6000)

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
        images = self.strip.valid_images()
        skipped = len(self.strip.images) - len(images)
        turn = TurnState(question, images)
        self.conversation.turns.append(turn)
        self.question.edit.clear()
        self.strip.clear()
        if skipped:
            self.statusBar().showMessage(f"{skipped} image(s) not sent: unreadable or still downloading", 6000)
        self.show_conversation()
        self._start(turn, regenerate=False)

    def ask(self, question: str) -> None:
        """Type a question and send it (used by --self-test and tests)."""
        self.question.edit.setPlainText(question)
        self.send()

    def regenerate(self, turn: TurnState) -> None:
        if self.running is not None or not self.model_ready or turn not in self.conversation.turns:
            return
        self._start(turn, regenerate=True)

    def _start(self, turn: TurnState, regenerate: bool) -> None:
        turns = self.conversation.turns
        index = turns.index(turn)
        history, carried = [], []
        for earlier in turns[:index]:
            images = carried + earlier.images
            if earlier.usable_for_history():
                history.append(
                    HistoryInput(
                        earlier.question, tuple(_input(i) for i in images), earlier.answer.trace.assistant_text
                    )
                )
                carried = []
            else:  # a failed or stopped turn is left out, but its images still belong to the chat
                carried = images
        s = self.settings
        search = SearchSettings(
            beam=s.beam, scorer=s.scorer, temperature=s.temperature, max_stage_tokens=s.max_stage_tokens
        )
        job = AskJob(
            next(self._job_ids),
            turn.question,
            [_input(i) for i in carried + turn.images],
            history,
            search,
            s.image_max_side,
        )
        version = AnswerVersion(live=True)
        turn.versions.append(version)
        turn.selected = len(turn.versions) - 1
        self.running = RunningJob(job, self.conversation, turn, version, regenerate)
        self.question.set_answering(True)
        self._update_send_enabled()
        self._update_export_enabled()
        self._refresh_cards()
        self.statusBar().showMessage("Answering… (Esc stops)")
        self.engine.ask_requested.emit(job)

    def stop(self) -> None:
        if self.running is not None:
            self.running.job.cancel.set()
            self.statusBar().showMessage("Stopping…", 2000)

    @guarded
    def _on_stage_event(self, job_id: int, kind: str, stage: str, candidate: int, text: str) -> None:
        running = self.running
        if running is None or running.job.job_id != job_id:
            return
        running.version.on_event(kind, stage, candidate, text)
        card = self._card_for(running.turn)
        if card is not None:
            card.update_live()
        self.live_updated.emit(kind, stage)

    @guarded
    def _on_answered(self, job_id: int, trace: Trace) -> None:
        running = self._finish(job_id)
        if running is None:
            return
        running.version.trace = trace
        self._set_status_item(self.speed_label, f"{trace.stats.tokens_per_s:.1f} tok/s")
        done = "Stopped" if trace.cancelled else f"Answered in {format_duration(trace.stats.wall_s)}"
        self.statusBar().showMessage(done, 4000)
        self._save(running, AnswerRecord(trace.dumps(indent=None)))
        self._after_answer(running)

    @guarded
    def _on_failed(self, job_id: int, message: str) -> None:
        running = self._finish(job_id)
        if running is None:
            return
        running.version.error = message
        self.statusBar().showMessage("The model could not answer", 4000)
        self._save(running, AnswerRecord(None, message))
        self._after_answer(running)

    def _finish(self, job_id: int) -> RunningJob | None:
        running = self.running
        if running is None or running.job.job_id != job_id:
            return None
        self.running = None
        running.version.live = False
        self.question.set_answering(False)
        self._update_send_enabled()
        self._update_export_enabled()
        return running

    def _after_answer(self, running: RunningJob) -> None:
        card = self._card_for(running.turn)
        if card is not None:
            card.refresh()
        self._refresh_cards()
        self.answer_finished.emit(running.turn)
        if self._pending_reload:
            self._pending_reload = False
            self.load_model()

    def _save(self, running: RunningJob, record: AnswerRecord) -> None:
        conversation, turn = running.conversation, running.turn
        if conversation.deleted:
            return
        try:
            if conversation.id is None:
                conversation.title = _title(turn.question)
                conversation.id = self.history.create_conversation(conversation.title)
                if conversation is self.conversation:
                    self.setWindowTitle(f"{conversation.title} — StageLens")
            if running.regenerate and turn.turn_id is not None:
                self.history.add_answer(turn.turn_id, record)
            else:
                stored = [
                    self.history.store_image(i.data, i.name, i.suffix, i.original_size, i.sent_size)
                    for i in turn.images
                ]
                turn.turn_id = self.history.add_turn(conversation.id, turn.question, stored, record)
        except Exception as exc:
            log.exception("saving the answer failed")
            self.statusBar().showMessage(f"The answer could not be saved: {exc}", 8000)
            return
        self.refresh_sidebar()

    # ------------------------------------------------------- conversations
    def refresh_sidebar(self) -> None:
        rows = self.history.list_conversations(self.sidebar.search.text())
        self.sidebar.set_conversations(rows, self.conversation.id)

    def new_chat(self) -> None:
        self.stop()
        self.conversation = ConversationState()
        self.strip.clear()
        self.question.edit.clear()
        self.sidebar.select(None)
        self.show_conversation()
        self.question.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        if self.conversation.id == conversation_id:
            return
        row = self.history.conversation(conversation_id)
        if row is None:
            self.refresh_sidebar()
            return
        self.stop()
        turns = [self._turn_from_record(r) for r in self.history.turns(conversation_id)]
        self.conversation = ConversationState(row.id, row.title, turns)
        self.sidebar.select(row.id)
        self.show_conversation()

    def _turn_from_record(self, record: TurnRecord) -> TurnState:
        images = [self._stored_to_pending(i) for i in record.images]
        versions = []
        for answer in record.answers:
            if answer.trace_json:
                try:
                    versions.append(AnswerVersion(trace=Trace.loads(answer.trace_json)))
                    continue
                except Exception as exc:
                    versions.append(AnswerVersion(error=f"this saved answer could not be read ({exc})"))
                    continue
            versions.append(AnswerVersion(error=answer.error or "unknown error"))
        return TurnState(record.question, images, versions, record.selected, record.id)

    def _stored_to_pending(self, image: StoredImage) -> PendingImage:
        path = self.history.image_path(image)
        try:
            data = path.read_bytes()
        except OSError:
            return PendingImage(b"", image.name, image.suffix, error=f"{image.name} is missing from the history")
        return PendingImage(data, image.name, image.suffix, None, tuple(image.original_size), tuple(image.sent_size))

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self.history.rename(conversation_id, title)
        if self.conversation.id == conversation_id:
            self.conversation.title = title
            self.setWindowTitle(f"{title} — StageLens")
        self.refresh_sidebar()

    def delete_conversation(self, conversation_id: int) -> None:
        if self.running is not None and self.running.conversation.id == conversation_id:
            self.running.conversation.deleted = True
            self.stop()
        self.history.delete(conversation_id)
        if self.conversation.id == conversation_id:
            self.new_chat()
        self.refresh_sidebar()

    def show_conversation(self) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        for turn in self.conversation.turns:
            card = AnswerCard(turn, self.settings.reasoning_expanded, self.thread_widget)
            card.regenerate_clicked.connect(guarded(self.regenerate))
            card.version_changed.connect(guarded(self._on_version_changed))
            card.reasoning_toggled.connect(guarded(self._remember_expanded))
            self.thread_layout.insertWidget(self.thread_layout.count() - 1, card)
            self.cards.append(card)
        self.setWindowTitle(f"{self.conversation.title} — StageLens" if self.conversation.id else "StageLens")
        self._update_empty_state()
        self._update_export_enabled()
        self._refresh_cards()

    def _update_empty_state(self) -> None:
        """ "Ask about an image" only while there is neither a conversation nor an image to ask about."""
        empty = not self.conversation.turns and not self.strip.images
        self.scroll.setVisible(not empty)
        self.empty.setVisible(empty)

    def _set_status_item(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))

    def _update_export_enabled(self) -> None:
        # an answer being written would be exported half done
        self.export_action.setEnabled(bool(self.conversation.turns) and self.running is None)

    def _refresh_cards(self) -> None:
        last = self.conversation.turns[-1] if self.conversation.turns else None
        for card in self.cards:
            card.regenerate_allowed = card.turn is last and self.running is None
            card.refresh()

    def _card_for(self, turn: TurnState) -> AnswerCard | None:
        return next((c for c in self.cards if c.turn is turn), None)

    def _on_version_changed(self, turn: TurnState) -> None:
        if turn.turn_id is not None:
            self.history.select_answer(turn.turn_id, turn.selected)

    def _follow_bottom(self, _low: int, high: int) -> None:
        if self.running is not None:
            self.scroll.verticalScrollBar().setValue(high)

    # ------------------------------------------------------------ settings
    def open_settings(self) -> None:
        from stagelens.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.default_model_name(), self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: AppSettings) -> None:
        reload = new.load_key() != self.settings.load_key() or not self.model_ready
        self.settings = new
        self._sync_expanded()
        self._store_settings()
        self._refresh_cards()
        if reload:
            if self.running is not None:
                self._pending_reload = True
            else:
                self.load_model()

    def _remember_expanded(self, expanded: bool) -> None:
        self.settings = replace(self.settings, reasoning_expanded=expanded)
        self._sync_expanded()
        self._store_settings()

    def _sync_expanded(self) -> None:
        expanded = self.settings.reasoning_expanded
        self.expanded_action.setChecked(expanded)
        for card in self.cards:
            card.reasoning_expanded = expanded

    def _store_settings(self) -> None:
        if not self._save_settings_file:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings could not be saved: {exc}", 6000)

    # -------------------------------------------------------------- export
    def export_dialog(self) -> None:
        if not self.conversation.turns or self.running is not None:
            return
        name = "".join(c if c.isalnum() or c in " -_" else "_" for c in self.conversation.title).strip() or "chat"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export conversation", f"{name}.md", "Markdown with stages (*.md);;JSON with full traces (*.json)"
        )
        if path:
            fmt = "json" if path.lower().endswith(".json") or "JSON" in chosen else "md"
            if not Path(path).suffix:  # the format chosen in the dialog names the file
                path += f".{fmt}"
            try:
                self.export_to(Path(path), fmt)
            except OSError as exc:
                QMessageBox.warning(self, "Export failed", f"{path} could not be written: {exc}")

    def export_to(self, path: Path, fmt: str) -> None:
        turns = [t for t in self.conversation.turns]
        title = self.conversation.title
        text = export.to_json(title, turns) if fmt == "json" else export.to_markdown(title, turns)
        write_atomic(path, text.encode("utf-8"))
        self.statusBar().showMessage(f"Exported to {path}", 5000)

    # ------------------------------------------------------------ closing
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.drop_overlay.isVisible():
            self.drop_overlay.setGeometry(self.centralWidget().geometry().adjusted(20, 20, -20, -20))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.settings = replace(self.settings, window_geometry=bytes(self.saveGeometry().toHex()).decode())
        self._store_settings()
        self.engine.stop(self.running.job if self.running else None)
        self.history.close()
        super().closeEvent(event)


def _input(image: PendingImage) -> ImageInput:
    return ImageInput(image.data, image.name)


def _title(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
