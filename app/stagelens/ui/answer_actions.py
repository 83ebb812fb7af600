"""The row under an answer: its versions (‹ 1 / 2 ›), Copy (as Markdown, or as plain text),
Regenerate and the search inspector; the question's own Edit button lives in its bubble."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from stagelens.ui.icons import set_icon
from stagelens.ui.typescale import SPACE


def tool(parent: QWidget, text: str, name: str, tip: str, icon_name: str | None = None) -> QToolButton:
    button = QToolButton(parent)
    button.setText(text)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setObjectName("answerAction")
    if icon_name:
        set_icon(button, icon_name)
        button.setToolButtonStyle(
            Qt.ToolButtonStyle.ToolButtonTextBesideIcon if text else Qt.ToolButtonStyle.ToolButtonIconOnly
        )
    return button


class VersionSwitch(QWidget):
    """‹ n / N ›: which of several versions is shown (answers regenerated, questions edited)."""

    step = Signal(int)  # -1 or +1

    def __init__(self, parent: QWidget, what: str) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.prev_button = tool(self, "", f"Previous {what}", f"Previous {what}", "previous")
        self.label = QLabel(self)
        self.label.setObjectName("versionLabel")
        self.label.setAccessibleName(f"{what.capitalize()} shown")
        self.next_button = tool(self, "", f"Next {what}", f"Next {what}", "next")
        self.prev_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        for widget in (self.prev_button, self.label, self.next_button):
            row.addWidget(widget)

    def show_position(self, index: int, count: int, locked: bool) -> None:
        self.setVisible(count > 1)
        self.label.setText(f"{index + 1} / {count}")
        self.prev_button.setEnabled(not locked and index > 0)
        self.next_button.setEnabled(not locked and index < count - 1)


class AnswerActions(QWidget):
    copy_markdown = Signal()
    copy_plain = Signal()
    regenerate = Signal()
    inspect = Signal(bool)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACE[1] // 2)
        self.versions = VersionSwitch(self, "version of this answer")
        self.copy_button = tool(self, "Copy", "Copy answer", "Copy the answer as Markdown", "copy")
        self.copy_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self.copy_button)
        self.copy_markdown_action = QAction("Copy as Markdown", menu)
        self.copy_plain_action = QAction("Copy as plain text", menu)
        menu.addAction(self.copy_markdown_action)
        menu.addAction(self.copy_plain_action)
        self.copy_button.setMenu(menu)
        self.regenerate_button = tool(
            self,
            "Regenerate",
            "Regenerate answer",
            "Answer again with a new seed; the earlier answer is kept",
            "regenerate",
        )
        self.inspector_button = tool(
            self,
            "Search",
            "Show search inspector",
            "The whole search: every candidate of every stage, with scores",
            "tree",
        )
        self.inspector_button.setCheckable(True)
        self.copy_button.clicked.connect(self.copy_markdown)
        self.copy_markdown_action.triggered.connect(self.copy_markdown)
        self.copy_plain_action.triggered.connect(self.copy_plain)
        self.regenerate_button.clicked.connect(self.regenerate)
        self.inspector_button.toggled.connect(self._inspect)
        row.addWidget(self.versions)
        row.addSpacing(SPACE[2])
        for widget in (self.copy_button, self.regenerate_button, self.inspector_button):
            row.addWidget(widget)
        row.addStretch(1)

    def _inspect(self, on: bool) -> None:
        self.inspector_button.setAccessibleName("Hide search inspector" if on else "Show search inspector")
        self.inspect.emit(on)
