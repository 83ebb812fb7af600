"""Images coming into the window (drop, paste, Ctrl+O, the sample): made into ChatImages by the
session's loader, put in the strip at once, and, once a batch is read, the first that could not
be read says why in the status bar."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from stagelens.images import ChatImage
from stagelens.session import Session
from stagelens.ui.bridge import ImageEvents
from stagelens.ui.guard import guarded
from stagelens.ui.image_strip import ImageStrip
from stagelens.ui.images_input import images_from_mime

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff);;All files (*)"
MESSAGE_MS = 6000

log = logging.getLogger(__name__)


class ImageIntake:
    def __init__(
        self, session: Session, strip: ImageStrip, events: ImageEvents, status: QStatusBar, added: Callable[[], None]
    ) -> None:
        self.session = session
        self.strip = strip
        self.status = status
        self._added = added
        self._paste_counter = itertools.count(1)
        self._batches: list[list[ChatImage]] = []  # images added together, until all are read
        events.finished.connect(guarded(self._finished))

    def add(self, images: list[ChatImage]) -> None:
        self.strip.add(images)
        self._batches.append(list(images))
        self._added()

    def add_paths(self, paths: list[str | Path]) -> None:
        max_side = self.session.image_max_side
        self.add([self.session.loader.from_file(p, max_side) for p in paths])

    def add_mime(self, mime: QMimeData) -> None:
        loader, max_side = self.session.loader, self.session.image_max_side
        images = images_from_mime(mime, loader, max_side, next(self._paste_counter))
        if images:
            self.add(images)
        else:
            self.status.showMessage("Nothing to add: that is not an image", 4000)

    def add_dropped(self, mime: QMimeData) -> None:
        """What was dropped on the window; a failure is said in the status bar, never raised into Qt."""
        try:
            self.add_mime(mime)
        except Exception as exc:
            log.exception("drop failed")
            self.status.showMessage(f"Could not add the dropped items: {exc}", 6000)

    def pick(self, parent: QWidget) -> None:
        paths, _ = QFileDialog.getOpenFileNames(parent, "Add images", "", IMAGE_FILTER)
        if paths:
            self.add_paths(list(paths))

    def add_sample(self) -> str:
        """A sample image; returns a question that suits it."""
        from stagelens.resources import sample_images

        # the demo model only knows its 64x64 shape scenes: give it one of those and a question it was taught
        model = self.session.model
        demo = model is not None and model.kind == "demo"
        first, question = ("scene-1.png", "How many shapes are there?")
        if not demo:
            first, question = ("shapes.png", "What shapes are in this picture?")
        samples = sorted(sample_images(), key=lambda p: p.name != first)
        if not samples:
            return ""
        self.add_paths([samples[0]])
        return question

    def reading(self) -> bool:
        """Some images added are not all read and reported yet."""
        return bool(self._batches)

    def _finished(self, _image: ChatImage) -> None:
        for batch in [b for b in self._batches if not any(i.decoding for i in b)]:
            self._batches.remove(batch)
            error = next((i.error for i in batch if i.error), None)
            if error:
                self.status.showMessage(error, MESSAGE_MS)
