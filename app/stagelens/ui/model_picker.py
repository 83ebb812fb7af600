"""The model picker at the top of the conversation: which model answers, what it is (family,
size, quantization, where it runs), and a menu of every model it can switch to — the switch
takes effect without a restart (the session reloads the engine) — with "Get more models…"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from stagelens.models.default import ModelChoice
from stagelens.session import LoadedModel, Session
from stagelens.ui.guard import guarded
from stagelens.ui.icons import icon, set_icon
from stagelens.ui.model_facts import KnownModel, known_models, model_facts, where_it_runs
from stagelens.ui.typescale import SPACE

MORE_MODELS = "Get more models…"
OTHER_FILES = "Other model files…"


class ModelPicker(QWidget):
    model_chosen = Signal(str, str)  # text GGUF, mmproj GGUF ("", "": the default model)
    more_models = Signal()  # "Get more models…": the Models dialog
    other_files = Signal()  # files of one's own: Settings

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("modelPicker")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACE[2])
        self.button = QToolButton(self)
        self.button.setObjectName("modelButton")
        self.button.setAccessibleName("Model")
        self.button.setToolTip("Which model answers: choose another, or get more models")
        set_icon(self.button, "chip")
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setAutoRaise(True)
        self.menu = QMenu(self.button)
        self.menu.setObjectName("modelMenu")
        self.menu.aboutToShow.connect(guarded(self.fill_menu))
        self.button.setMenu(self.menu)
        self.details = QLabel(self)
        self.details.setObjectName("modelDetails")
        self.details.setAccessibleName("About the model")
        row.addWidget(self.button)
        row.addWidget(self.details, 1)
        self.models: list[KnownModel] = []
        self.backend = ""
        session.model_loading.connect(guarded(self._loading))
        session.model_loaded.connect(guarded(self._loaded))
        session.model_failed.connect(guarded(self._failed))
        self.fill_menu()

    # -------------------------------------------------------------- state
    def _loading(self, model: ModelChoice) -> None:
        self.button.setText(f"{model.name}")
        self.details.setText("Loading…")

    def _loaded(self, loaded: LoadedModel) -> None:
        self.backend = loaded.backend
        model = self.session.model
        if model is None:
            return
        self.button.setText(model.name)
        family = "StageLens demo" if model.kind == "demo" else "random weights" if model.kind == "test" else None
        self.details.setText(model_facts(model.text, model.mmproj, family).line(loaded.backend))
        self.details.setToolTip(f"{model.text}\n{model.mmproj}\n{loaded.description}")

    def _failed(self, message: str) -> None:
        self.backend = ""
        self.button.setText("No model")
        self.details.setText("Could not load the model (see above)")
        self.details.setToolTip(message)

    # --------------------------------------------------------------- menu
    def current(self) -> tuple[str, str]:
        settings = self.session.settings
        return settings.model_text, settings.model_mmproj

    def fill_menu(self) -> None:
        """Every model it can switch to, with what it is (read when the menu opens)."""
        self.menu.clear()
        self.models = known_models(self.session.default_model_name())
        group = QActionGroup(self.menu)
        settings = self.session.settings
        current = self.current()
        for model in self.models:
            if model.text:
                where = self.backend if (model.text, model.mmproj) == current and self.backend else ""
                facts = model_facts(model.text, model.mmproj, model.family).short(where or where_it_runs(settings))
            else:
                facts = "the model StageLens starts with"
            action = QAction(f"{model.name}\t{facts}", self.menu)
            action.setCheckable(True)
            action.setChecked((model.text, model.mmproj) == current)
            if model.text:
                action.setToolTip(model_facts(model.text, model.mmproj, model.family).line())
            action.setData(model)
            action.triggered.connect(guarded(lambda _=False, m=model: self.choose(m)))
            group.addAction(action)
            self.menu.addAction(action)
        if current[0] and not any((m.text, m.mmproj) == current for m in self.models):
            name = self.session.model.name if self.session.model else current[0]
            files = QAction(f"{name}\tfiles chosen in Settings", self.menu)
            files.setCheckable(True)
            files.setChecked(True)
            files.setEnabled(False)
            self.menu.addAction(files)
        self.menu.addSeparator()
        more = self.menu.addAction(icon("download", self.palette()), MORE_MODELS)
        more.triggered.connect(self.more_models)
        other = self.menu.addAction(OTHER_FILES)
        other.triggered.connect(self.other_files)

    def choose(self, model: KnownModel) -> None:
        if (model.text, model.mmproj) != self.current():
            self.model_chosen.emit(model.text, model.mmproj)

    def actions_by_name(self) -> dict[str, QAction]:
        """The menu's actions by the text before the tab (for tests and the accessibility check)."""
        return {a.text().split("\t")[0]: a for a in self.menu.actions() if a.text()}
