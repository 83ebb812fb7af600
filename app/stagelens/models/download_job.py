"""One model (text + mmproj) being downloaded: its files' progress, and pause/cancel from any thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from stagelens.models.catalog import CatalogEntry, CatalogFile
from stagelens.models.download_errors import (
    DownloadError,
)
from stagelens.models.download_hooks import shutdown_socket
from stagelens.models.download_progress import (
    STALLED_AFTER,
    DownloadEvent,
    FileProgress,
    SpeedMeter,
)
from stagelens.models.registry import InstalledModel

if TYPE_CHECKING:
    from stagelens.models.download import DownloadManager


class DownloadJob:
    """One model (text + mmproj) being downloaded. Thread-safe controls: pause(), cancel()."""

    def __init__(self, manager: DownloadManager, entry: CatalogEntry, quant: str) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.manager = manager
        self.entry = entry
        self.quant = quant
        text, mmproj = entry.files(quant)
        self.file_specs: tuple[tuple[str, CatalogFile], ...] = (("text", text), ("mmproj", mmproj))
        self.files: list[FileProgress] = [FileProgress(f.file, role, total=f.size) for role, f in self.file_specs]
        self.state = "queued"
        self.message = ""
        self.error: DownloadError | None = None
        self.installed: InstalledModel | None = None
        self._stop_reason: str | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._bytes_at: dict[int, float] = {}  # file index -> when bytes last arrived
        self.unverified: set[str] = set()  # files that came without a published checksum
        self._speeds: dict[int, SpeedMeter] = {}

    @property
    def model_id(self) -> str:
        return self.entry.id if self.quant == self.entry.default_quant else f"{self.entry.id}-{self.quant.lower()}"

    @property
    def folder(self) -> Path:
        return self.manager.folder / self.entry.id

    def pause(self) -> None:
        """Stop, keeping the bytes received so far for resume()."""
        self._request_stop("pause")

    def cancel(self) -> None:
        """Stop and delete the partial files."""
        self._request_stop("cancel")
        if self._finished.is_set() and self.state == "paused":
            self.manager._discard_partials(self)
            self._set_state("cancelled", "download cancelled")

    def resume(self) -> DownloadJob:
        return self.manager.resume(self)

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def _request_stop(self, reason: str) -> None:
        with self._lock:
            if self._stop_reason != "cancel":
                self._stop_reason = reason
            sockets = list(self._sockets)
        for sock in sockets:
            shutdown_socket(sock)

    def _watch_socket(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            stopping = self._stop_reason is not None
        if stopping:
            shutdown_socket(sock)

    def _forget_sockets(self) -> None:
        with self._lock:
            self._sockets.clear()

    def _set_file(self, index: int, **changes) -> None:
        self.files[index] = replace(self.files[index], **changes)

    def _set_state(self, state: str, message: str = "") -> None:
        self.state = state
        self.message = message
        self.manager._emit(self)

    def event(self, now: float | None = None) -> DownloadEvent:
        """The job as it stands at ``now`` (default: this moment): speeds are measured up to now,
        so they fall while the server sends nothing instead of repeating the last burst."""
        now = time.monotonic() if now is None else now
        files = tuple(self._live(i, f, now) for i, f in enumerate(self.files))
        return DownloadEvent(self.id, self.model_id, self.state, files, self.message)

    def _live(self, index: int, f: FileProgress, now: float) -> FileProgress:
        if f.state != "downloading":
            return f
        last, speed = self._bytes_at.get(index), self._speeds.get(index)
        if last is None or speed is None or now - last > STALLED_AFTER:
            return replace(f, speed=0.0, eta=None)
        rate = speed.rate(now)
        eta = (f.total - f.done) / rate if rate > 0 and f.total is not None else None
        return replace(f, speed=rate, eta=eta)

    def remaining(self) -> dict[Path, int]:
        """Bytes each unfinished file still needs, by final path."""
        return {
            self.folder / spec.file: max(0, f.total - f.done)
            for (_role, spec), f in zip(self.file_specs, self.files, strict=True)
            if f.state != "done" and f.total is not None
        }
