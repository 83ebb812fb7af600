"""The row of thumbnails above the question box: remove buttons, error marks, and a
click-to-enlarge view with the original size and the size the model is sent."""

from __future__ import annotations

import io
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from stagelens.images import DEFAULT_MAX_SIDE
from stagelens.ui.images_input import PendingImage, download, to_qimage
from stagelens.ui.web_image import WebImageLoader

THUMB = 64


def decode_for_display(data: bytes) -> QImage:
    image = to_qimage(data)
    if image.isNull() and data:
        try:  # formats Qt has no plugin for (e.g. AVIF, QOI) still get a preview via Pillow
            from PIL import Image

            with Image.open(io.BytesIO(data)) as src:
                buf = io.BytesIO()
                src.convert("RGBA").save(buf, "PNG")
            image = to_qimage(buf.getvalue())
        except Exception:
            return QImage()
    return image


def thumbnail(data: bytes, side: int, ratio: float = 1.0) -> QPixmap:
    image = decode_for_display(data)
    px = int(side * ratio)
    if image.isNull():
        pixmap = QPixmap(px, px)
        pixmap.fill(QColor(0, 0, 0, 0))
    else:
        pixmap = QPixmap.fromImage(
            image.scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        )
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


class ImageThumb(QFrame):
    remove_clicked = Signal(object)
    open_clicked = Signal(object)

    def __init__(
        self, image: PendingImage, parent: QWidget | None = None, removable: bool = True, side: int = THUMB
    ) -> None:
        super().__init__(parent)
        self.image = image
        self.setObjectName("thumbError" if image.error else "thumbPending" if image.pending else "thumb")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedSize(side + 8, side + 8)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(
            f"Image {image.name}"
            + (f", error: {image.error}" if image.error else ", downloading" if image.pending else "")
        )
        self.setToolTip(_tooltip(image))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        self.picture = QLabel(self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if image.error or image.pending:
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
            self.picture.setPixmap(thumbnail(image.data, side, self.devicePixelRatioF()))
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


def _tooltip(image: PendingImage) -> str:
    if image.error:
        return f"{image.name}\n{image.error}"
    if image.pending:
        return f"{image.name}\nDownloading {image.url}"
    return f"{image.name}\n{_size_line(image)}\nClick to enlarge"


def _size_line(image: PendingImage) -> str:
    (ow, oh), (sw, sh) = image.original_size, image.sent_size
    return f"Original {ow} × {oh} px · sent to the model {sw} × {sh} px"


class ImagePreview(QDialog):
    def __init__(self, image: PendingImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(image.name)
        self.setAccessibleName(f"Preview of {image.name}")
        layout = QVBoxLayout(self)
        picture = QLabel(self)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        qimage = decode_for_display(image.data)
        ratio = self.devicePixelRatioF()
        if not qimage.isNull():
            scaled = qimage.scaled(
                int(720 * ratio),
                int(540 * ratio),
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
        info = QLabel(f"<b>{_html(image.name)}</b><br>{_size_line(image)}", self)
        info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        info.setAccessibleName("Image sizes")
        layout.addWidget(info)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close the preview")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ImageStrip(QScrollArea):
    """Pending images of the next question."""

    changed = Signal()
    download_failed = Signal(str)  # the message of a web image that could not be had

    def __init__(self, parent: QWidget | None = None, max_side: Callable[[], int] = lambda: DEFAULT_MAX_SIDE) -> None:
        super().__init__(parent)
        self._max_side = max_side
        self.downloads = WebImageLoader(self)
        self.downloads.finished.connect(self._downloaded, Qt.ConnectionType.QueuedConnection)
        self.setObjectName("imageStrip")
        self.setAccessibleName("Images for the next question")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(THUMB + 26)
        inner = QWidget(self)
        self._row = QHBoxLayout(inner)
        self._row.setContentsMargins(0, 2, 0, 2)
        self._row.setSpacing(6)
        self._row.addStretch(1)
        self.setWidget(inner)
        self.images: list[PendingImage] = []
        self.thumbs: list[ImageThumb] = []
        self.setVisible(False)

    def add(self, images: list[PendingImage]) -> None:
        for image in images:
            if image.ok and any(i.data == image.data for i in self.images):
                continue  # the same picture twice adds nothing
            thumb = self._thumb(image)
            self._row.insertWidget(self._row.count() - 1, thumb)
            self.images.append(image)
            self.thumbs.append(thumb)
            if image.pending:
                self._start_download(image)
        self.setVisible(bool(self.images))
        self.changed.emit()

    def _thumb(self, image: PendingImage) -> ImageThumb:
        thumb = ImageThumb(image, self.widget())
        thumb.remove_clicked.connect(self.remove)
        thumb.open_clicked.connect(self._open)
        return thumb

    def _start_download(self, image: PendingImage) -> None:
        max_side = self._max_side()
        self.downloads.start(image, lambda max_bytes, timeout_s: download(image, max_side, max_bytes, timeout_s))

    def _downloaded(self, pending: PendingImage, result: PendingImage) -> None:
        """Swap the "Loading…" thumbnail for the image or its error, in place."""
        index = next((i for i, item in enumerate(self.images) if item is pending), None)
        if index is None:
            return  # removed while it was downloading
        if result.ok and any(i.data == result.data for i in self.images):
            self.remove(pending)  # the same picture twice adds nothing
            return
        old, thumb = self.thumbs[index], self._thumb(result)
        self._row.replaceWidget(old, thumb)
        old.setParent(None)
        old.deleteLater()
        self.images[index], self.thumbs[index] = result, thumb
        if result.error:
            self.download_failed.emit(result.error)
        self.changed.emit()

    def remove(self, image: PendingImage) -> None:
        for i, item in enumerate(self.images):
            if item is image:
                thumb = self.thumbs.pop(i)
                self.images.pop(i)
                thumb.setParent(None)
                thumb.deleteLater()
                break
        self.setVisible(bool(self.images))
        self.changed.emit()

    def clear(self) -> None:
        for image in list(self.images):
            self.remove(image)

    def valid_images(self) -> list[PendingImage]:
        return [i for i in self.images if i.ok]

    def downloading(self) -> list[PendingImage]:
        return [i for i in self.images if i.pending]

    def _open(self, image: PendingImage) -> None:
        ImagePreview(image, self.window()).exec()
