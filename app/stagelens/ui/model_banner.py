"""The banner shown when the model could not be loaded: why, and the ways out (the model manager,
other files, the default model)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from stagelens.ui.typescale import SPACE


class ModelBanner(QFrame):
    pick_clicked = Signal()
    default_clicked = Signal()
    models_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAccessibleName("Model problem")
        row = QHBoxLayout(self)
        row.setContentsMargins(SPACE[3], SPACE[2], SPACE[3], SPACE[2])
        row.setSpacing(SPACE[2])
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setAccessibleName("Model problem explanation")
        self.pick = QPushButton("Choose model files…", self)
        self.pick.setAccessibleName("Choose other model files")
        self.pick.clicked.connect(self.pick_clicked)
        self.default = QPushButton("Use default model", self)
        self.default.setAccessibleName("Use the default model")
        self.default.clicked.connect(self.default_clicked)
        self.models = QPushButton("Models…", self)
        self.models.setAccessibleName("Open the model manager")
        self.models.setToolTip("Choose, download or import a model")
        self.models.clicked.connect(self.models_clicked)
        row.addWidget(self.text, 1)
        row.addWidget(self.models)
        row.addWidget(self.pick)
        row.addWidget(self.default)
        self.setVisible(False)

    def show_problem(self, message: str, custom_model: bool) -> None:
        self.text.setText(f"<b>The model could not be loaded.</b><br>{_html(message)}")
        self.default.setVisible(custom_model)  # the way back from files the user chose
        self.setVisible(True)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
