"""One turn of the conversation: the question (with its images), then the answer — the
Reasoning panel (what it is doing while it forms: reading the image, each stage, with their
times), the conclusion in Markdown, and the answer's actions and search inspector."""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from stagelens.images import ChatImage
from stagelens.session import Answer, Turn
from stagelens.ui.answer_actions import AnswerActions
from stagelens.ui.beam_inspector import BeamInspector
from stagelens.ui.markdown import plain_text
from stagelens.ui.markdown_view import MarkdownView
from stagelens.ui.progress import elapsed_line, reading_line, retrace_note
from stagelens.ui.question_bubble import QuestionBubble
from stagelens.ui.stage_panel import HIDDEN_STAGES, ReasoningPanel, format_duration
from stagelens.ui.typescale import SPACE

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
    edit_requested = Signal(object, str)  # Turn, its question as edited
    branch_requested = Signal(object, int)  # Turn, -1 or +1: the branch before or after the one shown
    version_requested = Signal(object, int)  # Turn, the version to show
    reasoning_toggled = Signal(bool)

    def __init__(self, turn: Turn, reasoning_expanded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turn = turn
        self.reasoning_expanded = reasoning_expanded
        self.setObjectName("answerCard")
        self.setAccessibleName("Question and answer")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACE[1], 0, SPACE[3])
        layout.setSpacing(SPACE[2] - 2)

        # the question, right-aligned like a chat bubble, with Edit and its branches
        self.bubble = QuestionBubble(turn, self)
        self.bubble.edited.connect(lambda text: self.edit_requested.emit(self.turn, text))
        self.bubble.branch_step.connect(lambda step: self.branch_requested.emit(self.turn, step))
        self.question_label, self.thumbs = self.bubble.label, self.bubble.thumbs
        layout.addWidget(self.bubble)

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
        self.conclusion = MarkdownView(self, "Answer", role="answer")
        self.conclusion.setObjectName("conclusion")
        layout.addWidget(self.conclusion)

        self.answer_actions = AnswerActions(self)
        self.versions = self.answer_actions.versions
        self.prev_button, self.next_button = self.versions.prev_button, self.versions.next_button
        self.version_label = self.versions.label
        self.copy_button = self.answer_actions.copy_button
        self.regenerate_button = self.answer_actions.regenerate_button
        self.inspector_button = self.answer_actions.inspector_button
        self.versions.step.connect(self._step)
        self.answer_actions.regenerate.connect(lambda: self.regenerate_clicked.emit(self.turn))
        self.answer_actions.copy_markdown.connect(self.copy_answer)
        self.answer_actions.copy_plain.connect(self.copy_plain_text)
        self.answer_actions.inspect.connect(self._toggle_inspector)
        layout.addWidget(self.answer_actions)
        self._layout = layout
        self._inspector: BeamInspector | None = None  # made when first opened: most answers are never inspected
        self._shown: Answer | None = None
        self.refresh()

    # ------------------------------------------------------------ display
    @property
    def version(self) -> Answer | None:
        return self.turn.answer

    def image_loaded(self, image: ChatImage) -> None:
        self.bubble.image_loaded(image)

    def refresh(self) -> None:
        version = self.version
        live = version is not None and version.live
        self.versions.show_position(self.turn.selected, len(self.turn.versions), live)
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
            self.conclusion.set_markdown("")
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
            self.panel.start_live(functools.partial(elapsed_line, version))
            self.status_label.setText("")
            self.status_label.setVisible(False)
        if not version.stage_started_at:  # before the first word: preparing, then reading the image
            self.panel.show_progress(reading_line(self.turn, version))
            self.conclusion.setVisible(False)
        elif version.stage in HIDDEN_STAGES:
            self.panel.show_live(version.stage, version.live_text(version.stage), retrace_note(version))
            self.conclusion.set_markdown("")
            self.conclusion.setVisible(False)
        else:
            self.panel.show_live("conclusion", version.live_text("reasoning"), retrace_note(version))
            self.conclusion.setVisible(True)
            self.conclusion.set_markdown(version.conclusion or "…", live=True)

    def _show_finished(self, version: Answer) -> None:
        trace = version.trace
        self.conclusion.setVisible(True)
        if version.interrupted:
            self._show_unfinished(version)
        elif trace is None:
            self.panel.setVisible(False)
            self.conclusion.set_markdown("")
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
                self.conclusion.set_markdown(trace.conclusion or "")
                self.conclusion.setVisible(bool(trace.conclusion))
            else:
                # an empty conclusion is never shown without its reason; a conclusion the model did not
                # write as asked (cut at the budget, ended without its tag) says so too
                final = trace.stage("conclusion")
                note = trace.conclusion_note or (final.note if final is not None else "")
                self.status_label.setProperty("kind", "note" if note else "")
                self.status_label.setText(note)
                self.conclusion.set_markdown(trace.conclusion or "(no conclusion)")
            if self._inspector is not None and self._inspector.isVisible():
                self._inspector.show_trace(trace)
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
        """The conclusion as the model wrote it: Markdown."""
        version = self.version
        if version is not None:
            QGuiApplication.clipboard().setText(version.conclusion)

    def copy_plain_text(self) -> None:
        """The conclusion as it reads, without the Markdown marks."""
        version = self.version
        if version is not None:
            QGuiApplication.clipboard().setText(plain_text(version.conclusion))

    def _step(self, delta: int) -> None:  # another version of the answer
        target = self.turn.selected + delta
        if 0 <= target < len(self.turn.versions):
            self.version_requested.emit(self.turn, target)

    @property
    def inspector(self) -> BeamInspector:
        if self._inspector is None:
            self._inspector = BeamInspector(self)
            self._inspector.setVisible(False)
            self._layout.addWidget(self._inspector)
        return self._inspector

    def _toggle_inspector(self, on: bool) -> None:
        if not on and self._inspector is None:
            return
        version = self.version
        if on and version is not None and version.trace is not None:
            self.inspector.show_trace(version.trace)
        self.inspector.setVisible(on and version is not None and version.trace is not None)

    def _on_panel_toggled(self, expanded: bool) -> None:
        self.reasoning_expanded = expanded
        self.reasoning_toggled.emit(expanded)
