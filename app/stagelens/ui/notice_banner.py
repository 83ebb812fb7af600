"""Notices about the user's own data, above the conversation: the history that was damaged and kept
aside (with the path of the saved copy), a history locked by another program, a settings file that
could not be read and what was reset. Each stays until it is dismissed or no longer true."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from stagelens.ui.typescale import SPACE


class NoticeBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBanner")
        self.setAccessibleName("Notices about your data")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(SPACE[3], SPACE[2] - 2, SPACE[2] - 2, SPACE[2] - 2)
        self._layout.setSpacing(SPACE[1])
        self._rows: dict[str, tuple[QWidget, QLabel]] = {}
        self.setVisible(False)

    def show_notice(self, key: str, message: str) -> None:
        """Show (or replace) the notice `key`."""
        if key in self._rows:
            self._rows[key][1].setText(message)
        else:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            text = QLabel(message, row)
            text.setObjectName("noticeText")
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.PlainText)  # file names and paths exactly as they are
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setAccessibleName("Notice")
            dismiss = QToolButton(row)
            dismiss.setText("✕")
            dismiss.setAutoRaise(True)
            dismiss.setAccessibleName("Dismiss this notice")
            dismiss.setToolTip("Dismiss")
            dismiss.clicked.connect(lambda: self.remove(key))
            line.addWidget(text, 1)
            line.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
            self._layout.addWidget(row)
            self._rows[key] = (row, text)
        self.setVisible(True)

    def remove(self, key: str) -> None:
        row = self._rows.pop(key, None)
        if row is not None:
            row[0].setParent(None)
            row[0].deleteLater()
        self.setVisible(bool(self._rows))

    def messages(self) -> dict[str, str]:
        return {key: text.text() for key, (_row, text) in self._rows.items()}
