"""The question of a turn, right-aligned like a chat bubble, with its images; under it, Edit (ask
it again as edited: a new branch from that point) and, once there are several branches there,
‹ n / N › to show another one."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from stagelens.images import ChatImage
from stagelens.session import Turn
from stagelens.ui.answer_actions import VersionSwitch, tool
from stagelens.ui.thumbnails import ImagePreview, ImageThumb, swap_thumb
from stagelens.ui.typescale import SPACE

THUMB_SMALL = 48
BUBBLE_MAX = 560
EDIT_LINES = 4


class EditBox(QPlainTextEdit):
    """The question being edited: Enter sends, Shift+Enter is a new line, Esc cancels."""

    send = Signal()
    cancel = Signal()

    def event(self, event: QEvent) -> bool:
        # Esc belongs to this box while it edits (the window's Esc stops an answer)
        override = event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
        if override and event.key() == Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.send.emit()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancel.emit()
        else:
            super().keyPressEvent(event)


class QuestionBubble(QWidget):
    edited = Signal(str)  # the question as edited, to ask again
    branch_step = Signal(int)  # -1 or +1: another branch at this question

    def __init__(self, turn: Turn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turn = turn
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(SPACE[1] // 2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        self.frame = QFrame(self)
        self.frame.setObjectName("questionBubble")
        self.frame.setMaximumWidth(BUBBLE_MAX)
        inside = QVBoxLayout(self.frame)
        inside.setContentsMargins(SPACE[3], SPACE[2], SPACE[3], SPACE[2])
        inside.setSpacing(SPACE[1])
        self.thumbs: list[ImageThumb] = []
        if turn.images:
            thumbs = QHBoxLayout()
            thumbs.setSpacing(SPACE[1])
            for image in turn.images:
                thumb = self._thumb(image)
                thumbs.addWidget(thumb)
                self.thumbs.append(thumb)
            thumbs.addStretch(1)
            inside.addLayout(thumbs)
        self.label = QLabel(turn.question, self.frame)
        self.label.setObjectName("questionText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName("Your question")
        # a word-wrapped label would otherwise be squeezed to a narrow column
        widest = max(
            (self.label.fontMetrics().horizontalAdvance(line) for line in turn.question.splitlines()), default=0
        )
        self.label.setMinimumWidth(min(widest + 4, BUBBLE_MAX - 30))
        inside.addWidget(self.label)
        self._inside = inside
        self._editor: EditBox | None = None  # made when first needed: most questions are never edited
        row.addWidget(self.frame)
        column.addLayout(row)

        under = QHBoxLayout()
        under.setContentsMargins(0, 0, 0, 0)
        under.setSpacing(SPACE[1] // 2)
        under.addStretch(1)
        self.branches = VersionSwitch(self, "branch from this question")
        self.branches.step.connect(self.branch_step)
        self.edit_button = tool(self, "Edit", "Edit question", "Edit this question and ask again from here", "edit")
        self.edit_button.clicked.connect(self.start_editing)
        under.addWidget(self.branches)
        under.addWidget(self.edit_button)
        column.addLayout(under)
        self.stop_editing()
        self.branches.show_position(0, 1, False)

    def _make_editor(self) -> EditBox:
        editor = EditBox(self.frame)
        editor.setObjectName("questionEditor")
        editor.setAccessibleName("Edit your question")
        editor.setMinimumWidth(min(BUBBLE_MAX - 30, 420))
        editor.setFixedHeight(editor.fontMetrics().lineSpacing() * EDIT_LINES + 2 * SPACE[2])
        editor.send.connect(self._send)
        editor.cancel.connect(self.stop_editing)
        self._inside.addWidget(editor)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(SPACE[2])
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel", self.frame)
        self.cancel_button.setObjectName("secondaryButton")
        self.cancel_button.setAccessibleName("Cancel the edit")
        self.cancel_button.clicked.connect(self.stop_editing)
        self.send_button = QPushButton("Send", self.frame)
        self.send_button.setObjectName("primaryButton")
        self.send_button.setAccessibleName("Ask the edited question")
        self.send_button.setToolTip("Ask again from here: the earlier question and its answers stay as a branch")
        self.send_button.clicked.connect(self._send)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.send_button)
        self.edit_buttons = QWidget(self.frame)
        self.edit_buttons.setLayout(buttons)
        self._inside.addWidget(self.edit_buttons)
        self._editor = editor
        return editor

    @property
    def editor(self) -> EditBox:
        return self._editor if self._editor is not None else self._make_editor()

    # ---------------------------------------------------------------- state
    def show_branches(self, index: int, count: int, locked: bool) -> None:
        self.branches.show_position(index, count, locked)

    def set_editable(self, editable: bool) -> None:
        self.edit_button.setEnabled(editable)
        if not editable:
            self.stop_editing()

    @property
    def editing(self) -> bool:
        return self._editor is not None and self._editor.isVisible()

    def start_editing(self) -> None:
        self.editor.setPlainText(self.turn.question)
        for widget in (self.editor, self.edit_buttons):
            widget.setVisible(True)
        self.label.setVisible(False)
        self.edit_button.setVisible(False)
        self.editor.setFocus()
        self.editor.selectAll()

    def stop_editing(self) -> None:
        if self._editor is not None:
            for widget in (self._editor, self.edit_buttons):
                widget.setVisible(False)
        self.label.setVisible(True)
        self.edit_button.setVisible(True)

    def _send(self) -> None:
        text = self.editor.toPlainText().strip()
        if text:
            self.stop_editing()
            self.edited.emit(text)

    # --------------------------------------------------------------- images
    def _thumb(self, image: ChatImage) -> ImageThumb:
        thumb = ImageThumb(image, self.frame, removable=False, side=THUMB_SMALL)
        thumb.open_clicked.connect(lambda img: ImagePreview(img, self.window()).exec())
        return thumb

    def image_loaded(self, image: ChatImage) -> None:
        """Show a question's image once it has been read (it was "Loading…")."""
        for i, thumb in enumerate(self.thumbs):
            if thumb.image is image and thumb.placeholder:
                self.thumbs[i] = self._thumb(image)
                swap_thumb(thumb, self.thumbs[i])
