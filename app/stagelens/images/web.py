"""Images that come from a web browser: the bytes of ``data:`` URLs and of ``http(s)`` links
(downloaded with a size limit and a timeout), and the names and suffixes they are shown under.
Every failure is a one-sentence message that names the image. No Qt: the caller decides which
thread runs a download (stagelens.images.loader runs them in the background)."""

from __future__ import annotations

import base64
import binascii
import http.client
import logging
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from stagelens import __version__
from stagelens.resources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

MAX_WEB_BYTES = 32 * 1024 * 1024
TIMEOUT_S = 20.0
WEB_SCHEMES = ("http", "https")
_CHUNK = 64 * 1024
# Some servers label images generically; those bytes still go to the image decoder.
_GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream", "")


class WebImageError(Exception):
    """A web image could not be had; the message is ready to show."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def decode_data_url(url: str, name: str, max_bytes: int = MAX_WEB_BYTES) -> tuple[bytes, str]:
    """The bytes and media type of a ``data:image/...`` URL."""
    head, comma, payload = url.partition(",")
    if not head.lower().startswith("data:") or not comma:
        raise WebImageError(f"{name} is not a valid data: URL")
    params = [p.strip().lower() for p in head[5:].split(";")]
    media = params[0] or "text/plain"
    if not media.startswith("image/"):
        raise WebImageError(f"{name} is {media}, not an image")
    if len(payload) * 3 // 4 > max_bytes:
        raise WebImageError(f"{name} is larger than {_megabytes(max_bytes)}")
    if "base64" not in params[1:]:
        return unquote_to_bytes(payload), media
    try:
        data = base64.b64decode("".join(unquote(payload).split()), validate=True)
    except (binascii.Error, ValueError):
        raise WebImageError(f"{name} has damaged base64 data") from None
    return data, media


def fetch(url: str, name: str, max_bytes: int = MAX_WEB_BYTES, timeout_s: float = TIMEOUT_S) -> tuple[bytes, str]:
    """Download an http(s) image: its bytes and its Content-Type media type (may be empty)."""
    if urlsplit(url).scheme.lower() not in WEB_SCHEMES:
        raise WebImageError(f"{name} is not an http or https link")
    request = urllib.request.Request(
        url, headers={"User-Agent": f"StageLens/{__version__}", "Accept": "image/*,*/*;q=0.5"}
    )
    try:
        # A fresh opener so proxy settings are read now, not when the first download ran.
        with urllib.request.build_opener().open(request, timeout=timeout_s) as response:
            media = response.headers.get_content_type() if response.headers.get("Content-Type") else ""
            _check_headers(response, name, media, max_bytes)
            return _read_limited(response, name, max_bytes, time.monotonic() + timeout_s, timeout_s), media
    except WebImageError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WebImageError(f"{name} could not be downloaded: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _timeout(name, timeout_s) from None
        raise WebImageError(f"{name} could not be downloaded: {_reason(exc.reason)}") from None
    except TimeoutError:
        raise _timeout(name, timeout_s) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise WebImageError(f"{name} could not be downloaded: {_reason(exc)}") from None


def _check_headers(response, name: str, media: str, max_bytes: int) -> None:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise WebImageError(f"{name} is larger than {_megabytes(max_bytes)}")
    if not media.startswith("image/") and media not in _GENERIC_TYPES:
        raise WebImageError(f"{name} is not an image (the server sent {media})")


def _read_limited(response, name: str, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise WebImageError(f"{name} is larger than {_megabytes(max_bytes)}")
        if time.monotonic() > deadline:  # the socket timeout alone lets a trickle go on forever
            raise _timeout(name, timeout_s)
        chunks.append(chunk)
    if not total:
        raise WebImageError(f"{name} could not be downloaded: the server sent nothing")
    return b"".join(chunks)


def _timeout(name: str, timeout_s: float) -> WebImageError:
    return WebImageError(f"{name} could not be downloaded: no answer within {timeout_s:g} s")


def _reason(exc: object) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _ImgSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            src = dict(attrs).get("src")
            if src and src.strip():
                self.sources.append(src.strip())


def img_sources(html: str) -> list[str]:
    """The ``src`` of every ``<img>`` in an HTML fragment, in order, without repeats."""
    parser = _ImgSources()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a browser's fragment is untrusted input
        log.debug("could not parse dropped HTML", exc_info=True)
    return list(dict.fromkeys(parser.sources))


def suffix_for(media: str) -> str:
    """The file suffix for a media type: image/jpeg -> .jpg, image/svg+xml -> .svg."""
    sub = media.split("/", 1)[-1].split("+")[0].split(";")[0].strip().lower()
    return "." + {"jpeg": "jpg", "pjpeg": "jpg", "x-ms-bmp": "bmp"}.get(sub, sub or "png")


def suffix_from_name(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".png"


def url_name(url: str) -> str:
    """What a web image is called: the last part of its path, else its host."""
    parts = urlsplit(url)
    tail = unquote(parts.path.rsplit("/", 1)[-1])
    return tail or parts.hostname or url[:60]
