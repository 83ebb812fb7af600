"""The collapsible "Reasoning" panel: the three hidden stages of one answer, with a
live tail of the current stage while the answer forms."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from stagelens.session.conversation import STAGE_TITLES as TITLES
from stagelens.settings import STAGE_NAMES

HIDDEN_STAGES = STAGE_NAMES[:-1]  # every stage but the conclusion
LIVE_TAIL_CHARS = 320


def format_duration(seconds: float, digits: int = 1) -> str:
    """Seconds as people read them: "2.4 s", or milliseconds below a tenth of a second."""
    if seconds >= 0.1:
        return f"{seconds:.{digits}f} s"
    ms = seconds * 1000
    return "<1 ms" if ms < 1 else f"{ms:.0f} ms"


class StageSection(QWidget):
    """One stage: its title (with a short badge such as "stopped"), what the stage machine saw when the
    model did not keep to the format (`detail`: the trace's stage note), and its text."""

    def __init__(self, name: str, text: str, parent: QWidget | None = None, note: str = "", detail: str = "") -> None:
        super().__init__(parent)
        self.name = name
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 6)
        layout.setSpacing(2)
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
        self.body = QLabel(text.strip() or "—", self)
        self.body.setObjectName("stageText")
        self.body.setTextFormat(Qt.TextFormat.PlainText)  # what the model wrote is never markup
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setAccessibleName(f"{TITLES.get(name, name)} stage")
        # Preferred, not Minimum: a wrapped label's size hint is measured at a narrow width, and as a
        # minimum it would leave blank lines around the text at the real width
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.body.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.body.setMinimumWidth(1)  # one long unbreakable word must not widen the conversation
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
        layout.setContentsMargins(10, 4, 10, 6)
        layout.setSpacing(2)
        self.header = QToolButton(self)
        self.header.setObjectName("reasoningHeader")
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.setCheckable(True)
        self.header.setAccessibleName("Show or hide the reasoning")
        self.header.clicked.connect(self._on_header)
        layout.addWidget(self.header)
        self.live_label = QLabel(self)
        self.live_label.setObjectName("liveTail")
        self.live_label.setWordWrap(True)
        self.live_label.setAccessibleName("Current stage, live")
        self.live_label.setMinimumWidth(1)
        layout.addWidget(self.live_label)
        self.sections_box = QWidget(self)
        self._sections_layout = QVBoxLayout(self.sections_box)
        self._sections_layout.setContentsMargins(18, 0, 0, 0)
        self._sections_layout.setSpacing(0)
        layout.addWidget(self.sections_box)
        self.sections: list[StageSection] = []
        self.live = False
        self.summary_line = "Reasoning"
        self.set_expanded(False)

    # -------------------------------------------------------------- state
    def start_live(self) -> None:
        self.live = True
        self._clear_sections()
        self.header.setEnabled(False)
        self.live_label.setVisible(True)
        self.sections_box.setVisible(False)
        self.show_live("summary", "")

    def show_live(self, stage: str, text: str) -> None:
        title = TITLES.get(stage, stage)
        if stage in HIDDEN_STAGES:
            step = HIDDEN_STAGES.index(stage) + 1
            self.header.setText(f"Thinking · step {step} of {len(HIDDEN_STAGES)}: {title}…")
        else:
            self.header.setText("Thinking · done, writing the answer…")
        self.header.setAccessibleDescription(self.header.text())
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        text = text.strip()
        tail = text[-LIVE_TAIL_CHARS:]
        if len(text) > LIVE_TAIL_CHARS:
            tail = "…" + tail[tail.find(" ") + 1 :] if " " in tail else "…" + tail
        self.live_label.setText(tail or "…")

    def show_stages(self, stages: list[tuple[str, str, str, str]], summary_line: str, expanded: bool) -> None:
        """stages: (name, text, badge, note) of the hidden stages produced."""
        self.live = False
        self._clear_sections()
        for name, text, badge, note in stages:
            section = StageSection(name, text, self.sections_box, badge, note)
            self._sections_layout.addWidget(section)
            self.sections.append(section)
        self.summary_line = summary_line
        self.live_label.setVisible(False)
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
        self.sections_box.setVisible(expanded)
        self.live_label.setVisible(False)

    @property
    def expanded(self) -> bool:
        return self.sections_box.isVisible() or (not self.live and self.header.isChecked())

    def stage_names(self) -> list[str]:
        return [s.name for s in self.sections]

    def _on_header(self) -> None:
        expanded = self.header.isChecked()
        self.set_expanded(expanded)
        self.toggled.emit(expanded)

    def _clear_sections(self) -> None:
        for section in self.sections:
            section.setParent(None)
            section.deleteLater()
        self.sections = []
