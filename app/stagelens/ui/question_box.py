"""The question box: Enter sends, Shift+Enter is a new line; pasted images go to the strip."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget

from stagelens.ui.icons import set_icon
from stagelens.ui.images_input import mime_has_images
from stagelens.ui.typescale import ICON_PX, SPACE

MAX_LINES = 6


class QuestionEdit(QPlainTextEdit):
    submit = Signal()
    images_pasted = Signal(object)  # QMimeData

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("questionEdit")
        self.setAccessibleName("Question")
        self.setPlaceholderText("Ask about the images…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow with the text from one line up to six, then scroll."""
        lines = max(1, min(MAX_LINES, int(self.document().size().height())))
        margins = self.contentsMargins()
        height = (
            lines * self.fontMetrics().lineSpacing()
            + 2 * int(self.document().documentMargin())
            + margins.top()
            + margins.bottom()
            + 4
        )
        self.setFixedHeight(max(40, height))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
            self.submit.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        return mime_has_images(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        has_files = source.hasUrls() and any(u.isLocalFile() for u in source.urls())
        if source.hasImage() or has_files or any(f.startswith("image/") for f in source.formats()):
            self.images_pasted.emit(source)
            return
        super().insertFromMimeData(source)


class QuestionBox(QWidget):
    """The edit, an add-images button and Send, which turns into Stop while answering."""

    send_clicked = Signal()
    stop_clicked = Signal()
    add_images_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("questionBox")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACE[2])
        self.add_button = QToolButton(self)
        set_icon(self.add_button, "image")
        self.add_button.setIconSize(QSize(ICON_PX + 4, ICON_PX + 4))
        self.add_button.setObjectName("addImages")
        self.add_button.setAccessibleName("Add images")
        self.add_button.setToolTip("Add images… (Ctrl+O) — or drop or paste them anywhere")
        self.add_button.setFixedSize(40, 40)
        self.add_button.clicked.connect(self.add_images_clicked)
        self.edit = QuestionEdit(self)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send question")
        self.send_button.setDefault(False)
        self.send_button.setAutoDefault(False)
        self.send_button.setMinimumWidth(88)
        self.send_button.setIconSize(QSize(ICON_PX, ICON_PX))
        self.send_button.setFixedHeight(40)
        self.send_button.clicked.connect(self._on_button)
        side.addWidget(self.send_button)
        side.addStretch(1)
        add_col = QVBoxLayout()
        add_col.setContentsMargins(0, 0, 0, 0)
        add_col.addWidget(self.add_button)
        add_col.addStretch(1)
        row.addLayout(add_col)
        row.addWidget(self.edit, 1)
        row.addLayout(side)
        self.answering = False
        self.set_answering(False)

    def set_answering(self, answering: bool) -> None:
        self.answering = answering
        self.send_button.setText("Stop" if answering else "Send")
        set_icon(self.send_button, "stop" if answering else "send", on_accent=True)
        self.send_button.setAccessibleName("Stop answering" if answering else "Send question")
        self.send_button.setToolTip("Stop (Esc)" if answering else "Send (Enter)")
        self.send_button.setProperty("stop", answering)
        self.send_button.style().unpolish(self.send_button)
        self.send_button.style().polish(self.send_button)

    def text(self) -> str:
        return self.edit.toPlainText()

    def _on_button(self) -> None:
        (self.stop_clicked if self.answering else self.send_clicked).emit()
