"""Stopping a download that is blocked reading from a stalled server, and the progress hook
huggingface-hub's download loop drives."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from stagelens.models.download_errors import (
    StopDownload,
)

if TYPE_CHECKING:
    from stagelens.models.download_job import DownloadJob

PROGRESS_CHUNK = 1 << 20

# ---------------------------------------------------------------------------------------------
# Stopping a download that is blocked reading from a stalled server
# ---------------------------------------------------------------------------------------------
# huggingface-hub reads the body in a loop; a pause or cancel is noticed at the next chunk. A
# server that stops sending would leave the loop blocked until the read timeout, so every
# response's socket is registered with the job running in that thread, and stopping the job
# shuts those sockets down, which wakes the blocked read at once.

current_job = threading.local()
_chunk_lock = threading.Lock()


def _on_request(request) -> None:
    job = getattr(current_job, "job", None)
    if job is not None and job._stop_reason is not None:
        raise StopDownload(job._stop_reason)


def _on_response(response) -> None:
    job = getattr(current_job, "job", None)
    stream = response.extensions.get("network_stream")
    if job is not None and stream is not None:
        sock = stream.get_extra_info("socket")
        if sock is not None:
            job._watch_socket(sock)


def ensure_http_hooks() -> None:
    """Add our hooks to huggingface-hub's shared HTTP client (checked before every request
    because the library replaces its client after some network errors). The hooks do nothing
    in threads that are not running one of our downloads."""
    from huggingface_hub import constants, get_session

    hooks = get_session().event_hooks
    if _on_request not in hooks["request"]:
        hooks["request"].append(_on_request)
    if _on_response not in hooks["response"]:
        hooks["response"].append(_on_response)
    with _chunk_lock:
        # the library reads 10 MB before each progress update; 1 MiB keeps progress readable
        # on slow links (and a pause is noticed sooner)
        constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, PROGRESS_CHUNK)


def progress_class(job: DownloadJob, index: int, on_bytes: Callable[[int], None]):
    """A tqdm stand-in that huggingface-hub's http_get drives: it turns chunk counts into our
    progress events and is where a pause or cancel is raised inside the download loop."""

    class Progress:
        def __init__(self, **kwargs) -> None:
            self.n = kwargs.get("initial", 0) or 0

        def update(self, n: int = 1) -> None:
            self.n += n
            on_bytes(self.n)
            if job._stop_reason is not None:
                raise StopDownload(job._stop_reason)

        def close(self) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.close()

    return Progress


def shutdown_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
