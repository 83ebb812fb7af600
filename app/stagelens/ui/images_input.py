"""Turning what the user drops, pastes or picks into images the model can be given;
a file that cannot be read becomes an image carrying its error instead of an exception."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QUrl
from PySide6.QtGui import QImage

from stagelens.images import ImageError, load_image
from stagelens.resources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class PendingImage:
    data: bytes
    name: str
    suffix: str
    error: str | None = None
    original_size: tuple[int, int] = (0, 0)
    sent_size: tuple[int, int] = (0, 0)

    @property
    def ok(self) -> bool:
        return self.error is None


def check_image(data: bytes, name: str, suffix: str, max_side: int) -> PendingImage:
    try:
        prepared = load_image(data, max_side=max_side, name=name)
    except ImageError as exc:
        return PendingImage(data, name, suffix, error=str(exc))
    except Exception as exc:  # a decoder bug must not take the window down
        log.exception("image check failed")
        return PendingImage(data, name, suffix, error=f"{name} cannot be read: {exc}")
    return PendingImage(data, name, suffix, None, prepared.original_size, prepared.sent_size)


def image_from_path(path: str | Path, max_side: int) -> PendingImage:
    path = Path(path)
    name = path.name or str(path)
    suffix = path.suffix.lower() or ".png"
    try:
        if path.is_dir():
            return PendingImage(b"", name, suffix, error=f"{name} is a folder, not an image file")
        if path.stat().st_size > MAX_FILE_BYTES:
            return PendingImage(b"", name, suffix, error=f"{name} is larger than 200 MB")
        data = path.read_bytes()
    except FileNotFoundError:
        return PendingImage(b"", name, suffix, error=f"{name} does not exist")
    except OSError as exc:
        return PendingImage(b"", name, suffix, error=f"{name} cannot be read: {exc.strerror or exc}")
    return check_image(data, name, suffix, max_side)


def image_from_qimage(image: QImage, name: str, max_side: int) -> PendingImage:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    data = bytes(buffer.data())
    if not data:
        return PendingImage(b"", name, ".png", error=f"{name} could not be converted to an image")
    return check_image(data, name, ".png", max_side)


def images_from_mime(mime: QMimeData, max_side: int, counter: int = 1) -> list[PendingImage]:
    """Files (local URLs), else image data (a browser drag, a screenshot paste)."""
    local = [url for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []
    if local:
        return [image_from_path(url.toLocalFile(), max_side) for url in local]
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return [image_from_qimage(image, f"pasted-{counter}.png", max_side)]
    for fmt in mime.formats():
        if fmt.startswith("image/"):
            data = bytes(mime.data(fmt))
            suffix = "." + fmt.split("/", 1)[1].split("+")[0].replace("jpeg", "jpg")
            return [check_image(data, f"pasted-{counter}{suffix}", suffix, max_side)]
    remote = [url for url in mime.urls() if not url.isLocalFile()] if mime.hasUrls() else []
    if remote:
        return [PendingImage(b"", _url_name(remote[0]), ".png",
                             error=f"{_url_name(remote[0])} is a web link; save the image and add the file")]
    return []


def mime_has_images(mime: QMimeData) -> bool:
    if mime.hasImage() or any(f.startswith("image/") for f in mime.formats()):
        return True
    return mime.hasUrls() and bool(mime.urls())


def _url_name(url: QUrl) -> str:
    return url.fileName() or url.toString()


def to_qimage(data: bytes) -> QImage:
    image = QImage()
    image.loadFromData(QByteArray(data))
    return image


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES
