"""The status bar, kept in step with the session: the model (loading, ready, failed), where it runs,
the speed of the last answer, and short messages about answers as they start and end."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from stagelens.models.default import ModelChoice
from stagelens.session import Answer, LoadedModel, Session, Turn
from stagelens.ui.guard import guarded
from stagelens.ui.stage_panel import format_duration

PLACEHOLDER_TIP = "Random weights for testing: answers are meaningless. Choose a real model in Settings (Ctrl+,)."


class StatusLine:
    def __init__(self, session: Session, bar: QStatusBar) -> None:
        self.session = session
        self.bar = bar
        self.model_label = QLabel("Loading model…", bar)
        self.model_label.setAccessibleName("Model")
        self.backend_label = QLabel("", bar)
        self.backend_label.setAccessibleName("Backend")
        self.speed_label = QLabel("", bar)
        self.speed_label.setAccessibleName("Speed of the last answer")
        for label in (self.model_label, self.backend_label, self.speed_label):
            label.setObjectName("statusItem")  # the theme separates the items
            bar.addPermanentWidget(label)
        set_item(self.backend_label, "")
        set_item(self.speed_label, "")
        session.model_loading.connect(guarded(self._loading))
        session.model_loaded.connect(guarded(self._loaded))
        session.model_failed.connect(guarded(self._failed))
        session.answer_started.connect(guarded(lambda *_: self.bar.showMessage("Answering… (Esc stops)")))
        session.answer_finished.connect(guarded(self._finished))

    def show(self, message: str, timeout_ms: int = 0) -> None:
        self.bar.showMessage(message, timeout_ms)

    def _loading(self, model: ModelChoice) -> None:
        self.model_label.setText(f"Loading {model.name}…")

    def _loaded(self, loaded: LoadedModel) -> None:
        model = self.session.model
        self.model_label.setText(model.name if model else loaded.description)
        self.model_label.setToolTip(f"{model.text if model else ''}\n{loaded.description}")
        if model is not None and model.is_placeholder:
            self.model_label.setToolTip(PLACEHOLDER_TIP)
        set_item(self.backend_label, loaded.backend)
        self.show("Model ready", 3000)

    def _failed(self, _message: str) -> None:
        self.model_label.setText("No model loaded")
        set_item(self.backend_label, "")

    def _finished(self, _turn: Turn, answer: Answer, save_error: str | None) -> None:
        trace = answer.trace
        if trace is not None:
            set_item(self.speed_label, f"{trace.stats.tokens_per_s:.1f} tok/s")
            self.show("Stopped" if trace.cancelled else f"Answered in {format_duration(trace.stats.wall_s)}", 4000)
        else:
            self.show("The model could not answer", 4000)
        if save_error:
            self.show(save_error, 8000)


def set_item(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))
