"""One turn of the conversation: the question (with its images), then the answer — the
Reasoning panel, the conclusion, and the answer's actions and beam inspector."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from stagelens.images import ChatImage
from stagelens.session import Answer, Turn
from stagelens.ui.beam_inspector import BeamInspector
from stagelens.ui.stage_panel import HIDDEN_STAGES, ReasoningPanel, format_duration
from stagelens.ui.thumbnails import ImagePreview, ImageThumb, swap_thumb

THUMB_SMALL = 48
BUBBLE_MAX = 560


def _tool(parent: QWidget, text: str, name: str, tip: str) -> QToolButton:
    button = QToolButton(parent)
    button.setText(text)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setObjectName("answerAction")
    return button


UNFINISHED_TEXT = (
    "⚠ Unfinished: StageLens stopped before this answer was done. What it wrote is kept; Regenerate answers again."
)


def summary_line(version: Answer) -> str:
    trace = version.trace
    if version.interrupted:
        done = sum(1 for s in version.finished if s in HIDDEN_STAGES)
        return f"Unfinished · {done} of 3 stages done"
    if trace is None:
        return "Reasoning"
    beam = trace.settings.get("beam", 1)
    done = sum(1 for s in trace.stages if s.name in HIDDEN_STAGES and s.complete)
    if trace.cancelled:
        return f"Stopped after {format_duration(trace.stats.wall_s)} · {done} of 3 stages · beam {beam}"
    return f"Reasoned in {format_duration(trace.stats.wall_s)} · beam {beam}"


class AnswerCard(QFrame):
    regenerate_clicked = Signal(object)  # Turn
    version_requested = Signal(object, int)  # Turn, the version to show
    reasoning_toggled = Signal(bool)

    def __init__(self, turn: Turn, reasoning_expanded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turn = turn
        self.reasoning_expanded = reasoning_expanded
        self.setObjectName("answerCard")
        self.setAccessibleName("Question and answer")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 10)
        layout.setSpacing(6)

        # the question, right-aligned like a chat bubble
        question_row = QHBoxLayout()
        question_row.addStretch(1)
        bubble = QFrame(self)
        bubble.setObjectName("questionBubble")
        bubble_layout = QVBoxLayout(bubble)
        bubble_layout.setContentsMargins(12, 8, 12, 8)
        self.thumbs: list[ImageThumb] = []
        self._bubble = bubble
        if turn.images:
            thumbs = QHBoxLayout()
            thumbs.setSpacing(4)
            for image in turn.images:
                thumb = self._thumb(image)
                thumbs.addWidget(thumb)
                self.thumbs.append(thumb)
            thumbs.addStretch(1)
            bubble_layout.addLayout(thumbs)
        self.question_label = QLabel(turn.question, bubble)
        self.question_label.setObjectName("questionText")
        self.question_label.setWordWrap(True)
        self.question_label.setTextFormat(Qt.TextFormat.PlainText)
        self.question_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.question_label.setAccessibleName("Your question")
        bubble_layout.addWidget(self.question_label)
        bubble.setMaximumWidth(BUBBLE_MAX)
        # a word-wrapped label would otherwise be squeezed to a narrow column
        widest = max(
            (self.question_label.fontMetrics().horizontalAdvance(line) for line in turn.question.splitlines()),
            default=0,
        )
        self.question_label.setMinimumWidth(min(widest + 4, BUBBLE_MAX - 30))
        question_row.addWidget(bubble)
        layout.addLayout(question_row)

        # the answer
        self.panel = ReasoningPanel(self)
        self.panel.toggled.connect(self._on_panel_toggled)
        layout.addWidget(self.panel)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("answerStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setAccessibleName("Answer status")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.conclusion = QLabel(self)
        self.conclusion.setObjectName("conclusion")
        self.conclusion.setWordWrap(True)
        self.conclusion.setTextFormat(Qt.TextFormat.PlainText)
        self.conclusion.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.conclusion.setAccessibleName("Answer")
        self.conclusion.setMinimumWidth(1)  # one long unbreakable word must not widen the conversation
        layout.addWidget(self.conclusion)

        actions = QHBoxLayout()
        actions.setSpacing(2)
        self.prev_button = _tool(self, "‹", "Previous version", "Previous version of this answer")
        self.version_label = QLabel(self)
        self.version_label.setObjectName("versionLabel")
        self.version_label.setAccessibleName("Answer version")
        self.next_button = _tool(self, "›", "Next version", "Next version of this answer")
        self.regenerate_button = _tool(
            self, "↻ Regenerate", "Regenerate answer", "Answer again with a new seed; the earlier answer is kept"
        )
        self.copy_button = _tool(self, "Copy", "Copy answer", "Copy the answer to the clipboard")
        self.inspector_button = _tool(
            self, "▦ Beam inspector", "Show beam inspector", "Every candidate of every stage, with scores"
        )
        self.inspector_button.setCheckable(True)
        self.prev_button.clicked.connect(lambda: self._step(-1))
        self.next_button.clicked.connect(lambda: self._step(1))
        self.regenerate_button.clicked.connect(lambda: self.regenerate_clicked.emit(self.turn))
        self.copy_button.clicked.connect(self.copy_answer)
        self.inspector_button.toggled.connect(self._toggle_inspector)
        for widget in (self.prev_button, self.version_label, self.next_button):
            actions.addWidget(widget)
        actions.addSpacing(8)
        for widget in (self.copy_button, self.regenerate_button, self.inspector_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        layout.addLayout(actions)
        self.inspector = BeamInspector(self)
        self.inspector.setVisible(False)
        layout.addWidget(self.inspector)
        self._shown: Answer | None = None
        self.refresh()

    # ------------------------------------------------------------ display
    @property
    def version(self) -> Answer | None:
        return self.turn.answer

    def _thumb(self, image: ChatImage) -> ImageThumb:
        thumb = ImageThumb(image, self._bubble, removable=False, side=THUMB_SMALL)
        thumb.open_clicked.connect(lambda img: ImagePreview(img, self.window()).exec())
        return thumb

    def image_loaded(self, image: ChatImage) -> None:
        """Show a question's image once it has been read (it was "Loading…")."""
        for i, thumb in enumerate(self.thumbs):
            if thumb.image is image and thumb.placeholder:
                self.thumbs[i] = self._thumb(image)
                swap_thumb(thumb, self.thumbs[i])

    def refresh(self) -> None:
        version = self.version
        live = version is not None and version.live
        n = len(self.turn.versions)
        for widget in (self.prev_button, self.next_button, self.version_label):
            widget.setVisible(n > 1)
        self.version_label.setText(f"{self.turn.selected + 1} / {n}")
        self.prev_button.setEnabled(not live and self.turn.selected > 0)
        self.next_button.setEnabled(not live and self.turn.selected < n - 1)
        done = version is not None and not live
        # the answer's actions appear once there is an answer to act on
        for button in (self.copy_button, self.regenerate_button, self.inspector_button):
            button.setVisible(done)
        self.copy_button.setEnabled(version is not None and not live and bool(version.conclusion))
        self.regenerate_button.setEnabled(done and self.regenerate_allowed)
        has_trace = version is not None and not live and version.trace is not None
        self.inspector_button.setEnabled(has_trace)
        if not has_trace:
            self.inspector_button.setChecked(False)
        if version is None:
            self.panel.setVisible(False)
            self.conclusion.setText("")
            self.status_label.setText("")
            return
        if live:
            self._shown = None
            self.update_live()
            return
        if version is not self._shown:  # rebuilding would undo the user's expand/collapse
            self._show_finished(version)
            self._shown = version

    regenerate_allowed = True

    def update_live(self) -> None:
        version = self.version
        if version is None or not version.live:
            return
        if not self.panel.live:
            self.panel.setVisible(True)
            self.panel.start_live()
            self.status_label.setText("")
        if version.stage in HIDDEN_STAGES:
            self.panel.show_live(version.stage, version.live_text(version.stage))
            self.conclusion.setText("")
            self.conclusion.setVisible(False)
        else:
            self.panel.show_live("conclusion", version.live_text("reasoning"))
            self.conclusion.setVisible(True)
            self.conclusion.setText(version.conclusion or "…")

    def _show_finished(self, version: Answer) -> None:
        trace = version.trace
        self.conclusion.setVisible(True)
        if version.interrupted:
            self._show_unfinished(version)
        elif trace is None:
            self.panel.setVisible(False)
            self.conclusion.setText("")
            self.status_label.setProperty("kind", "error")
            self.status_label.setText(f"⚠ The model could not answer: {version.error}")
        else:
            stages = [
                (s.name, s.text, "" if s.complete else "stopped", s.note)
                for s in trace.stages
                if s.name in HIDDEN_STAGES
            ]
            self.panel.show_stages(stages, summary_line(version), self.reasoning_expanded)
            self.panel.setVisible(bool(stages))
            if trace.cancelled:
                self.status_label.setProperty("kind", "stopped")
                self.status_label.setText("Stopped — what was produced is kept")
                self.conclusion.setText(trace.conclusion or "")
                self.conclusion.setVisible(bool(trace.conclusion))
            else:
                # an empty conclusion is never shown without its reason; a conclusion the model did not
                # write as asked (cut at the budget, ended without its tag) says so too
                final = trace.stage("conclusion")
                note = trace.conclusion_note or (final.note if final is not None else "")
                self.status_label.setProperty("kind", "note" if note else "")
                self.status_label.setText(note)
                self.conclusion.setText(trace.conclusion or "(no conclusion)")
            if self.inspector.isVisible():
                self.inspector.show_trace(trace)
        self.status_label.setVisible(bool(self.status_label.text()))
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    def _show_unfinished(self, version: Answer) -> None:
        """An answer whose program stopped before it was done: its stages so far, marked."""
        stages = [
            (name, text, "" if name in version.finished else "unfinished", "")
            for name, text in version.unfinished_stages
            if name in HIDDEN_STAGES
        ]
        self.panel.show_stages(stages, summary_line(version), self.reasoning_expanded)
        self.panel.setVisible(bool(stages))
        self.status_label.setProperty("kind", "stopped")
        self.status_label.setText(UNFINISHED_TEXT)
        conclusion = version.live_text("conclusion").strip()
        self.conclusion.setText(conclusion)
        self.conclusion.setVisible(bool(conclusion))

    # ------------------------------------------------------------ actions
    def copy_answer(self) -> None:
        version = self.version
        if version is not None:
            QGuiApplication.clipboard().setText(version.conclusion)

    def _step(self, delta: int) -> None:
        target = self.turn.selected + delta
        if 0 <= target < len(self.turn.versions):
            self.version_requested.emit(self.turn, target)

    def _toggle_inspector(self, on: bool) -> None:
        version = self.version
        if on and version is not None and version.trace is not None:
            self.inspector.show_trace(version.trace)
        self.inspector.setVisible(on and version is not None and version.trace is not None)
        self.inspector_button.setAccessibleName("Hide beam inspector" if on else "Show beam inspector")

    def _on_panel_toggled(self, expanded: bool) -> None:
        self.reasoning_expanded = expanded
        self.reasoning_toggled.emit(expanded)
