"""An image as the window shows it: a thumbnail (with a placeholder while it loads and a mark
when it cannot be read) and a click-to-enlarge view with the original size and the size the model
is sent. Both are drawn from the pixels decoded once for the model (stagelens.images), never
from the file again."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFrame, QLabel, QToolButton, QVBoxLayout, QWidget

from stagelens.images import ChatImage, PreparedImage

THUMB = 64
PREVIEW_SIZE = (720, 540)


def to_qimage(prepared: PreparedImage) -> QImage:
    """The decoded RGB8 pixels as a QImage (the format Qt itself decodes an opaque picture to)."""
    width, height = prepared.sent_size
    image = QImage(prepared.rgb, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.convertToFormat(QImage.Format.Format_RGB32)


def thumbnail(image: ChatImage, side: int, ratio: float = 1.0) -> QPixmap:
    px = int(side * ratio)
    prepared = image.prepared
    if prepared is None:
        pixmap = QPixmap(px, px)
        pixmap.fill(QColor(0, 0, 0, 0))
    else:
        scaled = to_qimage(prepared).scaled(
            px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        pixmap = QPixmap.fromImage(scaled)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


class ImageThumb(QFrame):
    remove_clicked = Signal(object)  # ChatImage
    open_clicked = Signal(object)  # ChatImage

    def __init__(
        self, image: ChatImage, parent: QWidget | None = None, removable: bool = True, side: int = THUMB
    ) -> None:
        super().__init__(parent)
        self.image = image
        self.removable = removable
        self.side = side
        waiting = image.decoding
        self.placeholder = waiting  # shows "Loading…" until its owner swaps in the loaded image
        self.setObjectName("thumbError" if image.error else "thumbPending" if waiting else "thumb")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedSize(side + 8, side + 8)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(
            f"Image {image.name}"
            + (f", error: {image.error}" if image.error else ", downloading" if image.pending else "")
            + (", loading" if waiting and not image.pending else "")
        )
        self.setToolTip(_tooltip(image))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        self.picture = QLabel(self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if image.error or waiting:
            # the name says which image it is; the tooltip carries the whole reason
            font = self.picture.font()
            font.setPointSizeF(min(font.pointSizeF(), 8.0))
            self.picture.setFont(font)
            self.picture.setWordWrap(True)
            name = QFontMetrics(font).elidedText(image.name, Qt.TextElideMode.ElideMiddle, side - 2)
            state = ("⚠\n" + ("Download failed" if image.url else "Can't read")) if image.error else "Loading…"
            self.picture.setText(f"{state}\n{name}")
            self.picture.setObjectName("thumbErrorText" if image.error else "thumbPendingText")
        else:
            self.picture.setPixmap(thumbnail(image, side, self.devicePixelRatioF()))
        layout.addWidget(self.picture)
        if removable:
            self.remove_button = QToolButton(self)
            self.remove_button.setObjectName("thumbRemove")
            self.remove_button.setText("✕")
            self.remove_button.setAccessibleName(f"Remove {image.name}")
            self.remove_button.setToolTip(f"Remove {image.name}")
            self.remove_button.setFixedSize(QSize(18, 18))
            self.remove_button.move(self.width() - 21, 2)
            self.remove_button.raise_()  # over the picture's corner, never under it
            self.remove_button.clicked.connect(lambda: self.remove_clicked.emit(self.image))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self.image.ok:
            self.open_clicked.emit(self.image)
        super().mouseReleaseEvent(event)


def swap_thumb(old: ImageThumb, new: ImageThumb) -> None:
    """Put `new` where `old` is (a placeholder replaced by the loaded image or its error)."""
    parent = old.parentWidget()
    layout = parent.layout() if parent is not None else None
    if layout is not None:
        layout.replaceWidget(old, new)
    old.hide()  # never setParent(None): a widget without a parent is a window, and takes the activation
    old.deleteLater()


def _tooltip(image: ChatImage) -> str:
    if image.error:
        return f"{image.name}\n{image.error}"
    if image.pending:
        return f"{image.name}\nDownloading {image.url}"
    if image.decoding:
        return f"{image.name}\nReading the image…"
    return f"{image.name}\n{size_line(image)}\nClick to enlarge"


def size_line(image: ChatImage) -> str:
    (ow, oh), (sw, sh) = image.original_size, image.sent_size
    return f"Original {ow} × {oh} px · sent to the model {sw} × {sh} px"


class ImagePreview(QDialog):
    def __init__(self, image: ChatImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(image.name)
        self.setAccessibleName(f"Preview of {image.name}")
        layout = QVBoxLayout(self)
        picture = QLabel(self)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ratio = self.devicePixelRatioF()
        if image.prepared is not None:
            qimage = to_qimage(image.prepared)
            scaled = qimage.scaled(
                int(PREVIEW_SIZE[0] * ratio),
                int(PREVIEW_SIZE[1] * ratio),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            if scaled.width() > qimage.width():
                scaled = qimage
            pixmap = QPixmap.fromImage(scaled)
            pixmap.setDevicePixelRatio(ratio)
            picture.setPixmap(pixmap)
        picture.setAccessibleName("Image")
        layout.addWidget(picture)
        info = QLabel(f"<b>{_html(image.name)}</b><br>{size_line(image)}", self)
        info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        info.setAccessibleName("Image sizes")
        layout.addWidget(info)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close the preview")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
