"""The "Drop images to add them" sign shown over the window while images are dragged over it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


class DropOverlay(QLabel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__("Drop images to add them", parent)
        self.setObjectName("dropOverlay")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setVisible(False)

    def cover(self, widget: QWidget | None) -> None:
        """Lie over `widget` (the window's central widget), a little inside it."""
        if widget is not None:
            self.setGeometry(widget.geometry().adjusted(20, 20, -20, -20))
