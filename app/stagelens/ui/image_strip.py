"""The row of thumbnails above the question box: the images of the next question, each shown
as "Loading…" until it has been read in the background, then as its picture or its error."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QWidget

from stagelens.images import ChatImage, ImageLoader
from stagelens.ui.bridge import ImageEvents
from stagelens.ui.thumbnails import THUMB, ImagePreview, ImageThumb, swap_thumb


class ImageStrip(QScrollArea):
    """Images of the next question."""

    changed = Signal()

    def __init__(self, loader: ImageLoader, events: ImageEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.events = events
        events.finished.connect(self._finished)
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
        self.images: list[ChatImage] = []
        self.thumbs: list[ImageThumb] = []
        self.setVisible(False)

    def add(self, images: list[ChatImage]) -> None:
        for image in images:
            thumb = self._thumb(image)
            self._row.insertWidget(self._row.count() - 1, thumb)
            self.images.append(image)
            self.thumbs.append(thumb)
            self.events.watch(image)
        self.setVisible(bool(self.images))
        self.changed.emit()

    def replace_all(self, images: list[ChatImage]) -> None:
        """The same images in the same places, as they are to be sent now (e.g. at another size)."""
        self.clear()
        self.add(images)

    def _thumb(self, image: ChatImage) -> ImageThumb:
        thumb = ImageThumb(image, self.widget())
        thumb.remove_clicked.connect(self.remove)
        thumb.open_clicked.connect(self._open)
        return thumb

    def _finished(self, image: ChatImage) -> None:
        """Swap the "Loading…" thumbnail for the image or its error, in place."""
        index = next((i for i, item in enumerate(self.images) if item is image), None)
        if index is None:
            return  # removed while it loaded
        if image.ok:  # the same picture twice adds nothing: the one added first stays
            same = [i for i in self.images if i is not image and i.ok and i.digest == image.digest]
            if any(self.images.index(i) < index for i in same):
                self.remove(image)
                return
            for later in same:
                self.remove(later)
            index = self.images.index(image)
        old = self.thumbs[index]
        if old.placeholder:
            self.thumbs[index] = self._thumb(image)
            swap_thumb(old, self.thumbs[index])
        self.changed.emit()

    def remove(self, image: ChatImage) -> None:
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

    def valid_images(self) -> list[ChatImage]:
        return [i for i in self.images if i.ok]

    def downloading(self) -> list[ChatImage]:
        """Web images shown as "Loading…": still downloading, or done but not yet shown."""
        return [t.image for t in self.thumbs if t.placeholder and t.image.url]

    def loading(self) -> list[ChatImage]:
        """Images shown as "Loading…" (still being read, or read but not yet shown)."""
        return [t.image for t in self.thumbs if t.placeholder]

    def to_send(self) -> list[ChatImage]:
        """What a question asked now is sent: every readable image, those still being read included
        (the answer waits for them); a web image still downloading is not sent."""
        return [i for i in self.images if i.ok or (i.decoding and not i.pending)]

    def _open(self, image: ChatImage) -> None:
        ImagePreview(image, self.window()).exec()
