"""Reading images in the background: every `ChatImage` is made here and filled on a worker thread
(file read, download, decode), so a big photo or a slow server never holds up the caller.

Workers are daemon threads: a download that hangs never keeps the program from quitting. With
`inline=True` the work is done at once on the calling thread (the command line, tests).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from stagelens.images.decode import ImageError, prepare_bytes, read_image_file, warm_up_decoders
from stagelens.images.image import ChatImage, ImageContent
from stagelens.images.web import (
    MAX_WEB_BYTES,
    TIMEOUT_S,
    WEB_SCHEMES,
    WebImageError,
    decode_data_url,
    fetch,
    suffix_for,
    suffix_from_name,
    url_name,
)

log = logging.getLogger(__name__)

DECODE_WORKERS = 2

_Job = Callable[[], ImageContent]


class _DaemonPool:
    """A few daemon threads taking jobs from one queue (concurrent.futures' pool joins its
    threads at exit, which a hung job would block)."""

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[_Job, Future[ImageContent]]] = queue.SimpleQueue()
        self._workers = workers
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job: _Job, future: Future[ImageContent]) -> None:
        self._jobs.put((job, future))
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            _complete(future, job)


def _complete(future: Future[ImageContent], job: _Job) -> None:
    try:
        future.set_result(job())
    except BaseException as exc:  # a job reports its failure through the future, never by raising
        future.set_exception(exc if isinstance(exc, ImageError) else ImageError(str(exc)))


class ImageLoader:
    def __init__(self, *, inline: bool = False, workers: int = DECODE_WORKERS) -> None:
        self.inline = inline
        self.max_web_bytes = MAX_WEB_BYTES
        self.web_timeout_s = TIMEOUT_S
        self._pool = _DaemonPool(workers, "stagelens-image-decode")
        if not inline:
            threading.Thread(target=_warm_up, name="stagelens-image-warm-up", daemon=True).start()

    # ------------------------------------------------------------ sources
    def from_file(self, path: str | Path, max_side: int) -> ChatImage:
        path = Path(path)
        name = path.name or str(path)

        def job() -> ImageContent:
            data, absolute = read_image_file(path, name)
            return _decoded(data, name, path.suffix.lower() or ".png", max_side, absolute)

        return self._start(name, path.suffix.lower() or ".png", max_side, job, path=str(path.absolute()))

    def from_bytes(self, data: bytes, name: str, suffix: str, max_side: int) -> ChatImage:
        """Pasted or dropped image data."""
        return self._start(name, suffix, max_side, lambda: _decoded(data, name, suffix, max_side))

    def from_history(self, path: Path, name: str, suffix: str, max_side: int) -> ChatImage:
        """An image kept in the history folder."""

        def job() -> ImageContent:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise ImageError(f"{name} is missing from the history") from None
            except OSError as exc:
                raise ImageError(f"{name} cannot be read from the history: {exc.strerror or exc}") from None
            return _decoded(data, name, suffix, max_side)

        return self._start(name, suffix, max_side, job)

    def from_web(self, source: str, data_name: str, max_side: int) -> ChatImage:
        """A data: URL (named `data_name` + its suffix) or an http(s) link, downloaded on its own thread."""
        scheme = source.split(":", 1)[0].lower() if ":" in source else ""
        if scheme == "data":
            media = source.partition(",")[0][5:].split(";")[0].strip().lower()
            is_image = media.startswith("image/")
            suffix = suffix_for(media) if is_image else ".png"
            name = data_name + suffix if is_image else data_name
            return self._start(name, suffix, max_side, lambda: _from_data_url(source, data_name, name, max_side))
        name = url_name(source)
        suffix = suffix_from_name(name)
        if scheme not in WEB_SCHEMES:
            message = f"{name} is not a link StageLens can download (http, https or data: images)"
            return failed_image(name, suffix, message, url=source)
        max_bytes, timeout_s = self.max_web_bytes, self.web_timeout_s

        def job() -> ImageContent:
            try:
                data, media = fetch(source, name, max_bytes, timeout_s)
            except WebImageError as exc:
                raise ImageError(str(exc)) from None
            except Exception as exc:  # whatever happens on that thread must come back as a message
                log.exception("web image download failed")
                raise ImageError(f"{name} could not be downloaded: {exc}") from None
            return _decoded(data, name, suffix_for(media) if media.startswith("image/") else suffix, max_side)

        return self._start(name, suffix, max_side, job, url=source, own_thread=True)

    def redecode(self, image: ChatImage, max_side: int) -> ChatImage:
        """The same image sent at another size (its bytes are decoded again, once)."""
        if not image.ok or image.max_side == max_side:
            return image
        name, data, suffix, path = image.name, image.data, image.suffix, image.path

        def job() -> ImageContent:
            return _decoded(data, name, suffix, max_side, path)

        return self._start(name, suffix, max_side, job, path=path, url=image.url)

    # ------------------------------------------------------------ running
    def _start(
        self,
        name: str,
        suffix: str,
        max_side: int,
        job: _Job,
        *,
        path: str | None = None,
        url: str = "",
        own_thread: bool = False,
    ) -> ChatImage:
        future: Future[ImageContent] = Future()
        image = ChatImage(name, suffix, max_side, future, path=path, url=url)
        if self.inline:
            _complete(future, job)
        elif own_thread:  # a download may wait on the network for long: it never holds up a decode
            threading.Thread(target=_complete, args=(future, job), name="stagelens-web-image", daemon=True).start()
        else:
            self._pool.submit(job, future)
        return image


def _warm_up() -> None:
    try:
        warm_up_decoders()
    except Exception:  # the first decode will load them, and report what fails
        log.exception("loading the image decoders failed")


def failed_image(name: str, suffix: str, error: str, *, url: str = "") -> ChatImage:
    """An image that is an error from the start (shown with its message, never sent)."""
    future: Future[ImageContent] = Future()
    future.set_exception(ImageError(error))
    return ChatImage(name, suffix, 0, future, url=url)


def _decoded(data: bytes, name: str, suffix: str, max_side: int, path: str | None = None) -> ImageContent:
    try:
        prepared = prepare_bytes(data, name, max_side=max_side, path=path)
    except ImageError:
        raise
    except Exception as exc:  # a decoder bug must not take the program down
        log.exception("image decode failed")
        raise ImageError(f"{name} cannot be read: {exc}") from None
    return ImageContent(data, suffix.lower() or ".png", prepared)


def _from_data_url(source: str, data_name: str, name: str, max_side: int) -> ImageContent:
    try:
        data, media = decode_data_url(source, data_name)
    except WebImageError as exc:
        raise ImageError(str(exc)) from None
    return _decoded(data, name, suffix_for(media), max_side)
