"""Turning what the user drops, pastes or picks into images the model can be given;
a file that cannot be read becomes an image carrying its error instead of an exception."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QUrl
from PySide6.QtGui import QImage

from stagelens.images import ImageError, load_image
from stagelens.resources import IMAGE_SUFFIXES
from stagelens.ui.web_image import WEB_SCHEMES, WebImageError, decode_data_url, fetch, img_sources

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
    url: str = ""  # where a web image comes from
    pending: bool = False  # a web image still downloading: shown, never sent

    @property
    def ok(self) -> bool:
        return self.error is None and not self.pending


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
    """Files (local URLs), else image data (a screenshot paste, some browser drags), else
    web images: the <img> tags of dragged HTML, else the dragged links."""
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
            suffix = _suffix_for(fmt)
            return [check_image(data, f"pasted-{counter}{suffix}", suffix, max_side)]
    sources = web_sources(mime)
    names = [f"pasted-{counter}" if len(sources) == 1 else f"pasted-{counter}-{k}" for k in range(1, len(sources) + 1)]
    return [image_from_web(src, name, max_side) for src, name in zip(sources, names, strict=True)]


def web_sources(mime: QMimeData) -> list[str]:
    """Browsers (Chrome on Linux among them) drag a web image as text/uri-list + text/html.
    The <img> tags come first: for a linked image the URL list holds the link, not the picture."""
    sources = img_sources(mime.html()) if mime.hasHtml() else []
    if not sources and mime.hasUrls():
        sources = [
            url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
            for url in mime.urls()
            if not url.isLocalFile() and not url.isEmpty()
        ]
    return list(dict.fromkeys(sources))


def image_from_web(source: str, data_name: str, max_side: int) -> PendingImage:
    """A data: URL is decoded now; an http(s) link becomes a pending image to download."""
    url = QUrl(source)
    scheme = url.scheme().lower()
    if scheme == "data":
        try:
            data, media = decode_data_url(source, data_name)
        except WebImageError as exc:
            return PendingImage(b"", data_name, ".png", error=str(exc))
        suffix = _suffix_for(media)
        return check_image(data, data_name + suffix, suffix, max_side)
    name = _url_name(url)
    if scheme not in WEB_SCHEMES:
        return PendingImage(
            b"",
            name,
            ".png",
            url=source,
            error=f"{name} is not a link StageLens can download (http, https or data: images)",
        )
    return PendingImage(b"", name, _suffix_from_name(name), url=source, pending=True)


def download(image: PendingImage, max_side: int, max_bytes: int, timeout_s: float) -> PendingImage:
    """Fetch and check a pending web image; runs off the GUI thread and never raises."""
    try:
        data, media = fetch(image.url, image.name, max_bytes, timeout_s)
        suffix = _suffix_for(media) if media.startswith("image/") else image.suffix
        result = check_image(data, image.name, suffix, max_side)
    except WebImageError as exc:
        result = PendingImage(b"", image.name, image.suffix, error=str(exc))
    except Exception as exc:  # whatever happens on that thread must come back as a message
        log.exception("web image download failed")
        result = PendingImage(b"", image.name, image.suffix, error=f"{image.name} could not be downloaded: {exc}")
    return replace(result, url=image.url, pending=False)


def mime_has_images(mime: QMimeData) -> bool:
    if mime.hasImage() or any(f.startswith("image/") for f in mime.formats()):
        return True
    if mime.hasUrls() and bool(mime.urls()):
        return True
    return mime.hasHtml() and bool(img_sources(mime.html()))


def _suffix_for(media: str) -> str:
    sub = media.split("/", 1)[-1].split("+")[0].split(";")[0].strip().lower()
    return "." + {"jpeg": "jpg", "pjpeg": "jpg", "x-ms-bmp": "bmp"}.get(sub, sub or "png")


def _suffix_from_name(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".png"


def _url_name(url: QUrl) -> str:
    return url.fileName() or url.host() or url.toString()[:60]


def to_qimage(data: bytes) -> QImage:
    image = QImage()
    image.loadFromData(QByteArray(data))
    return image


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES
