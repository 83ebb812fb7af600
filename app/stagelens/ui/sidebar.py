"""The list of conversations: new, rename, delete, search."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from stagelens.session import ConversationSummary
from stagelens.ui.icons import set_icon
from stagelens.ui.typescale import SPACE


class Sidebar(QWidget):
    new_clicked = Signal()
    open_requested = Signal(int)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    search_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAccessibleName("Conversations")
        self.setMinimumWidth(180)
        self.setMaximumWidth(320)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE[2], SPACE[2], SPACE[2], SPACE[2])
        layout.setSpacing(SPACE[2])
        self.new_button = QPushButton("New chat", self)
        self.new_button.setObjectName("newChat")
        set_icon(self.new_button, "add")
        self.new_button.setAccessibleName("New chat")
        self.new_button.setToolTip("New chat (Ctrl+N)")
        self.new_button.clicked.connect(self.new_clicked)
        layout.addWidget(self.new_button)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search conversations")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.search_changed)
        layout.addWidget(self.search)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Conversation list")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemActivated.connect(self._open_item)
        self.list.itemClicked.connect(self._open_item)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.rename_button = QToolButton(self)
        self.rename_button.setText("Rename")
        self.rename_button.setObjectName("answerAction")
        set_icon(self.rename_button, "edit")
        self.rename_button.setAccessibleName("Rename conversation")
        self.rename_button.clicked.connect(lambda: self._rename(self.list.currentItem()))
        self.delete_button = QToolButton(self)
        self.delete_button.setText("Delete")
        self.delete_button.setObjectName("answerAction")
        set_icon(self.delete_button, "close")
        self.delete_button.setAccessibleName("Delete conversation")
        self.delete_button.clicked.connect(lambda: self._delete(self.list.currentItem()))
        for button in (self.rename_button, self.delete_button):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setAutoRaise(True)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self._update_buttons()
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())

    def set_conversations(self, rows: list[ConversationSummary], current: int | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for row in rows:
            item = QListWidgetItem(row.title or "Untitled", self.list)
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(row.title)
            if row.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if not rows:
            hint = QListWidgetItem("No matches" if self.search.text().strip() else "No conversations yet", self.list)
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            hint.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        self._update_buttons()

    def select(self, conversation_id: int | None) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentItem(None)  # type: ignore[call-overload]  # Qt accepts None: no current item
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == conversation_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        has = item is not None and item.data(Qt.ItemDataRole.UserRole) is not None
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def _open_item(self, item: QListWidgetItem) -> None:
        if item.data(Qt.ItemDataRole.UserRole) is None:
            return
        self.open_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(Qt.ItemDataRole.UserRole) is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self._rename(item))
        menu.addAction("Delete", lambda: self._delete(item))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _rename(self, item: QListWidgetItem | None) -> None:
        if item is None or item.data(Qt.ItemDataRole.UserRole) is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=item.text())
        if ok and title.strip():
            self.rename_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)), title.strip())

    def _delete(self, item: QListWidgetItem | None) -> None:
        if item is None or item.data(Qt.ItemDataRole.UserRole) is None:
            return
        answer = QMessageBox.question(
            self, "Delete conversation", f"Delete “{item.text()}” and its answers? This cannot be undone."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
