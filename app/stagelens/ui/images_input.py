"""Turning what the user drops, pastes or picks into images: each becomes a `ChatImage` at once
(shown as "Loading…") and is read, downloaded and decoded in the background by the ImageLoader.
A source that cannot be used becomes an image carrying its error instead of an exception."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, QUrl
from PySide6.QtGui import QImage

from stagelens.images import ChatImage, ImageLoader, failed_image
from stagelens.images.web import img_sources, suffix_for


def image_from_qimage(image: QImage, name: str, loader: ImageLoader, max_side: int) -> ChatImage:
    """A picture from the clipboard, kept as PNG bytes."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide's stubs miss the QIODevice overload
    data = bytes(buffer.data().data())
    if not data:
        return failed_image(name, ".png", f"{name} could not be converted to an image")
    return loader.from_bytes(data, name, ".png", max_side)


def images_from_mime(mime: QMimeData, loader: ImageLoader, max_side: int, counter: int = 1) -> list[ChatImage]:
    """Files (local URLs), else image data (a screenshot paste, some browser drags), else
    web images: the <img> tags of dragged HTML, else the dragged links."""
    local = [url for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []
    if local:
        return [loader.from_file(url.toLocalFile(), max_side) for url in local]
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return [image_from_qimage(image, f"pasted-{counter}.png", loader, max_side)]
    for fmt in mime.formats():
        if fmt.startswith("image/"):
            data = bytes(mime.data(fmt).data())
            suffix = suffix_for(fmt)
            return [loader.from_bytes(data, f"pasted-{counter}{suffix}", suffix, max_side)]
    sources = web_sources(mime)
    names = [f"pasted-{counter}" if len(sources) == 1 else f"pasted-{counter}-{k}" for k in range(1, len(sources) + 1)]
    return [loader.from_web(src, name, max_side) for src, name in zip(sources, names, strict=True)]


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


def mime_has_images(mime: QMimeData) -> bool:
    if mime.hasImage() or any(f.startswith("image/") for f in mime.formats()):
        return True
    if mime.hasUrls() and bool(mime.urls()):
        return True
    return mime.hasHtml() and bool(img_sources(mime.html()))
