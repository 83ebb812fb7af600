"""What the whole window shows while images are dragged over it: a tinted sheet over everything
(menus, sidebar and status bar included), a dashed frame and what a drop will do."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QMimeData, QObject, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QWidget

from stagelens.ui.icons import icon
from stagelens.ui.images_input import mime_has_images
from stagelens.ui.theme import mix
from stagelens.ui.typescale import RADIUS, SPACE

TITLE = "Drop images to add them"
DETAIL = "Files, or pictures dragged from a web page — PNG, JPEG, WebP, GIF, BMP, TIFF"
ICON_SIDE = 56


class DropOverlay(QWidget):
    """Takes the window's drag and drop events: shown while images are dragged over it, and the
    dropped data goes to `dropped`."""

    def __init__(self, window: QWidget, dropped: Callable[[QMimeData], None]) -> None:
        super().__init__(window)
        self.setObjectName("dropOverlay")
        self.setAccessibleName(TITLE)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setVisible(False)
        self._dropped = dropped
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.DragEnter and isinstance(event, QDragEnterEvent):
            if mime_has_images(event.mimeData()):
                event.acceptProposedAction()
                self.cover()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.DragMove and isinstance(event, QDragMoveEvent):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.DragLeave:
            self.setVisible(False)
            return True
        if kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
            self.setVisible(False)
            self._dropped(event.mimeData())
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Resize and self.isVisible():
            self.cover()
        return False

    def cover(self) -> None:
        """Over the whole window, above everything in it."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.setVisible(True)

    def text(self) -> str:
        return TITLE

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        palette = self.palette()
        window = palette.color(QPalette.ColorRole.Window)
        accent = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.WindowText)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        sheet = mix(window, accent, 0.18)
        sheet.setAlpha(250)
        painter.fillRect(self.rect(), sheet)
        frame = QRectF(self.rect()).adjusted(SPACE[5], SPACE[5], -SPACE[5], -SPACE[5])
        pen = QPen(accent, 3, Qt.PenStyle.DashLine)
        pen.setDashPattern([4, 3])
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(frame, RADIUS["large"] + 4, RADIUS["large"] + 4)
        middle = frame.center()
        pixmap = icon("image", palette, accent, ICON_SIDE).pixmap(ICON_SIDE, ICON_SIDE)
        painter.drawPixmap(int(middle.x() - ICON_SIDE / 2), int(middle.y() - ICON_SIDE - SPACE[3]), pixmap)
        title = QFont(self.font())
        title.setPointSizeF(max(title.pointSizeF(), 8.0) * 1.6)
        title.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title)
        painter.setPen(text)
        line = QRectF(frame.left(), middle.y(), frame.width(), painter.fontMetrics().height() + SPACE[1])
        painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, TITLE)
        painter.setFont(self.font())
        painter.setPen(QColor(mix(text, window, 0.35)))
        below = QRectF(frame.left(), line.bottom() + SPACE[1], frame.width(), painter.fontMetrics().height() * 2)
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, DETAIL)
        painter.end()
