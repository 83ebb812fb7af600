"""The one image object: an image of the conversation from the moment it is dropped.

A `ChatImage` is created at once (name, where it comes from) and filled in the background
(stagelens.images.loader): its file bytes, kept for the history, and the pixels sent to the model
(a `PreparedImage`, decoded once), whose digest is the image's identity everywhere: the strip tells
two images apart by it, the engine caches the encoded image under it, the history names the
stored file after it. Reading the object is safe from any thread; it never changes once done.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from stagelens.images.decode import PreparedImage


@dataclass(frozen=True)
class ImageContent:
    """What a finished load holds."""

    data: bytes = field(repr=False)  # the file's bytes
    suffix: str  # ".png", ".jpg", ...: how the bytes are stored
    prepared: PreparedImage


class ChatImage:
    def __init__(
        self,
        name: str,
        suffix: str,
        max_side: int,
        loaded: Future[ImageContent],
        *,
        url: str = "",
        path: str | None = None,
    ) -> None:
        self.name = name
        self.url = url  # where a web image comes from
        self.path = path  # where a local file was read from
        self.max_side = max_side  # the longest side of the pixels sent
        self._suffix = suffix
        self._loaded = loaded

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"error={self.error!r}" if self.done else "loading"
        return f"ChatImage({self.name!r}, {state}, digest={self.digest[:12]!r})"

    # ------------------------------------------------------------ state
    @property
    def done(self) -> bool:
        return self._loaded.done()

    @property
    def ok(self) -> bool:
        """Read and decoded: it can be shown and sent."""
        return self._content() is not None

    @property
    def pending(self) -> bool:
        """A web image still downloading."""
        return bool(self.url) and not self.done

    @property
    def decoding(self) -> bool:
        """Still being read (downloaded, decoded)."""
        return not self.done

    @property
    def error(self) -> str | None:
        """Why it cannot be used: one sentence naming the image."""
        if not self.done:
            return None
        exc = self._loaded.exception()
        return None if exc is None else str(exc)

    # ---------------------------------------------------------- content
    @property
    def data(self) -> bytes:
        content = self._content()
        return content.data if content else b""

    @property
    def suffix(self) -> str:
        content = self._content()
        return content.suffix if content else self._suffix

    @property
    def prepared(self) -> PreparedImage | None:
        content = self._content()
        return content.prepared if content else None

    @property
    def digest(self) -> str:
        """sha256 of the pixels sent (see PreparedImage); empty until decoded."""
        prepared = self.prepared
        return prepared.digest if prepared else ""

    @property
    def original_size(self) -> tuple[int, int]:
        prepared = self.prepared
        return prepared.original_size if prepared else (0, 0)

    @property
    def sent_size(self) -> tuple[int, int]:
        prepared = self.prepared
        return prepared.sent_size if prepared else (0, 0)

    # ----------------------------------------------------------- waiting
    def wait(self, timeout_s: float | None = None) -> PreparedImage | None:
        """Block until it is read (never on the GUI thread); None when it could not be."""
        try:
            self._loaded.exception(timeout_s)
        except FutureTimeout:
            return None
        return self.prepared

    def when_done(self, callback: Callable[[ChatImage], None]) -> None:
        """Call `callback(self)` once it is done: at once if it is, else on the thread that finishes it."""
        self._loaded.add_done_callback(lambda _future: callback(self))

    def _content(self) -> ImageContent | None:
        if not self._loaded.done() or self._loaded.exception() is not None:
            return None
        return self._loaded.result()
