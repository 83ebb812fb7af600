"""What an empty window shows: how to start, with a sample image to try."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from stagelens.ui.icons import set_icon
from stagelens.ui.typescale import SPACE


class EmptyState(QWidget):
    sample_clicked = Signal()
    add_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Getting started")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE[5], SPACE[5], SPACE[5], SPACE[5])
        layout.setSpacing(SPACE[3])
        layout.addStretch(2)
        title = QLabel("Ask about an image", self)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Drop images anywhere in this window, paste them with Ctrl+V, or add them with Ctrl+O.\n"
            "Answers are reasoned in stages — open “Reasoning” above an answer to see them.",
            self,
        )
        text.setObjectName("emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(text)
        row = QHBoxLayout()
        row.setSpacing(SPACE[2])
        row.addStretch(1)
        self.sample_button = QPushButton("Try a sample image", self)
        self.sample_button.setAccessibleName("Add a sample image")
        self.sample_button.setObjectName("primaryButton")
        set_icon(self.sample_button, "image", on_accent=True)
        self.sample_button.clicked.connect(self.sample_clicked)
        add = QPushButton("Add images…", self)
        add.setAccessibleName("Add images")
        add.setObjectName("secondaryButton")
        set_icon(add, "add")
        add.clicked.connect(self.add_clicked)
        row.addWidget(self.sample_button)
        row.addWidget(add)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(3)
