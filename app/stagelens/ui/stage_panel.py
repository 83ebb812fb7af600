"""The collapsible "Reasoning" panel: the three hidden stages of one answer (Markdown), with,
while the answer forms, what it is doing (reading the image, then each stage) with the time it
has taken so far, and the last lines of the stage being written."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from stagelens.session.conversation import STAGE_TITLES as TITLES
from stagelens.settings import STAGE_NAMES
from stagelens.ui.markdown_source import tail
from stagelens.ui.markdown_view import MarkdownView
from stagelens.ui.typescale import SPACE

HIDDEN_STAGES = STAGE_NAMES[:-1]  # every stage but the conclusion
LIVE_TAIL_CHARS = 320
TICK_MS = 200  # how often the elapsed time is redrawn while live


def format_duration(seconds: float, digits: int = 1) -> str:
    """Seconds as people read them: "2.4 s", or milliseconds below a tenth of a second."""
    if seconds >= 0.1:
        return f"{seconds:.{digits}f} s"
    ms = seconds * 1000
    return "<1 ms" if ms < 1 else f"{ms:.0f} ms"


def format_elapsed(seconds: float) -> str:
    """A running clock: "0.4 s", "12 s", "1 min 05 s"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class StageSection(QWidget):
    """One stage: its title (with a short badge such as "stopped"), what the stage machine saw when the
    model did not keep to the format (`detail`: the trace's stage note), and its text."""

    def __init__(self, name: str, text: str, parent: QWidget | None = None, note: str = "", detail: str = "") -> None:
        super().__init__(parent)
        self.name = name
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACE[1] // 2, 0, SPACE[2])
        layout.setSpacing(SPACE[1] // 2)
        self.title = QLabel(
            TITLES.get(name, name.title()) + (f"  <span style='font-weight:normal'>· {note}</span>" if note else ""),
            self,
        )
        self.title.setObjectName("stageTitle")
        self.detail = QLabel(detail, self)
        self.detail.setObjectName("stageNote")
        self.detail.setTextFormat(Qt.TextFormat.PlainText)  # it names tags: "<CAPTION>" is text, not markup
        self.detail.setWordWrap(True)
        self.detail.setMinimumWidth(1)
        self.detail.setAccessibleName(f"{TITLES.get(name, name)} stage note")
        self.detail.setVisible(bool(detail))
        self.body = MarkdownView(self, f"{TITLES.get(name, name)} stage", role="stage")
        self.body.set_markdown(text.strip() or "—")
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addWidget(self.body)


class ReasoningPanel(QFrame):
    toggled = Signal(bool)  # expanded, by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reasoningPanel")
        self.setAccessibleName("Reasoning")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE[3], SPACE[1], SPACE[3], SPACE[2])
        layout.setSpacing(SPACE[1] // 2)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        self.header = QToolButton(self)
        self.header.setObjectName("reasoningHeader")
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.setCheckable(True)
        self.header.setAccessibleName("Show or hide the reasoning")
        self.header.clicked.connect(self._on_header)
        self.elapsed = QLabel(self)
        self.elapsed.setObjectName("elapsed")
        self.elapsed.setAccessibleName("Time so far")
        top.addWidget(self.header)
        top.addStretch(1)
        top.addWidget(self.elapsed)
        layout.addLayout(top)
        self._layout = layout
        self._live_label: MarkdownView | None = None  # made when an answer is first written here
        self.sections_box = QWidget(self)
        self._sections_layout = QVBoxLayout(self.sections_box)
        self._sections_layout.setContentsMargins(SPACE[4] + 2, 0, 0, 0)
        self._sections_layout.setSpacing(0)
        layout.addWidget(self.sections_box)
        self._sections: list[StageSection] = []
        self._stages: list[tuple[str, str, str, str]] = []  # shown as sections when first expanded
        self.live = False
        self.summary_line = "Reasoning"
        self._clock: Callable[[float], str] | None = None
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self.set_expanded(False)

    @property
    def live_label(self) -> MarkdownView:
        """The end of the stage being written."""
        if self._live_label is None:
            self._live_label = MarkdownView(self, "Current stage, live", role="tail")
            self._live_label.setObjectName("liveTail")
            self._live_label.setContentsMargins(SPACE[4] + 2, 0, 0, 0)
            self._layout.insertWidget(1, self._live_label)
        return self._live_label

    def _hide_live(self) -> None:
        if self._live_label is not None:
            self._live_label.setVisible(False)

    # -------------------------------------------------------------- state
    def start_live(self, clock: Callable[[float], str] | None = None) -> None:
        """`clock(now)` gives the elapsed time shown at the right, redrawn every TICK_MS."""
        self.live = True
        self._clear_sections()
        self.header.setEnabled(False)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        self._hide_live()
        self.sections_box.setVisible(False)
        self._clock = clock
        self.elapsed.setVisible(clock is not None)
        if clock is not None:
            self._ticker.start()
            self._tick()

    def show_progress(self, line: str) -> None:
        """What the answer is doing before it writes (reading the image, ...)."""
        self.header.setText(line)
        self.header.setAccessibleDescription(line)

    def show_live(self, stage: str, text: str, note: str = "") -> None:
        """`note`: said after the step (how the search is going), when not empty."""
        title = TITLES.get(stage, stage)
        if stage in HIDDEN_STAGES:
            step = HIDDEN_STAGES.index(stage) + 1
            line = f"Thinking · step {step} of {len(HIDDEN_STAGES)}: {title}…"
        else:
            line = "Thinking · done, writing the answer…"
        self.show_progress(f"{line} · {note}" if note else line)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        shown = tail(text, LIVE_TAIL_CHARS)
        self.live_label.setVisible(True)
        self.live_label.set_markdown(shown or "…", live=True)

    def show_stages(self, stages: list[tuple[str, str, str, str]], summary_line: str, expanded: bool) -> None:
        """stages: (name, text, badge, note) of the hidden stages produced."""
        self.live = False
        self._stop_clock()
        self._clear_sections()
        self._stages = list(stages)
        self.summary_line = summary_line
        self._hide_live()
        self.header.setEnabled(bool(stages))
        self.setVisible(True)
        self.set_expanded(expanded and bool(stages))

    def set_expanded(self, expanded: bool) -> None:
        if self.live:
            return
        self.header.setChecked(expanded)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.header.setText(self.summary_line)
        self.header.setAccessibleDescription(self.summary_line)
        if expanded:
            self._build_sections()
        self.sections_box.setVisible(expanded)
        self._hide_live()

    @property
    def expanded(self) -> bool:
        return self.sections_box.isVisible() or (not self.live and self.header.isChecked())

    def stage_names(self) -> list[str]:
        return [name for name, _text, _badge, _note in self._stages]

    @property
    def sections(self) -> list[StageSection]:
        """The stages, each with its Markdown view (made when first needed: most panels stay closed)."""
        self._build_sections()
        return self._sections

    def _build_sections(self) -> None:
        if self._sections or not self._stages:
            return
        for name, text, badge, note in self._stages:
            section = StageSection(name, text, self.sections_box, badge, note)
            self._sections_layout.addWidget(section)
            self._sections.append(section)

    def _tick(self) -> None:
        if self._clock is not None:
            self.elapsed.setText(self._clock(time.monotonic()))

    def _stop_clock(self) -> None:
        self._ticker.stop()
        self._clock = None
        self.elapsed.setVisible(False)

    def _on_header(self) -> None:
        expanded = self.header.isChecked()
        self.set_expanded(expanded)
        self.toggled.emit(expanded)

    def _clear_sections(self) -> None:
        for section in self._sections:
            section.setParent(None)
            section.deleteLater()
        self._sections = []
        self._stages = []
