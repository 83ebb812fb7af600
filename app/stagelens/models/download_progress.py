"""A download's progress as the window and the CLI show it: per-file bytes, speed, time left."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from stagelens.models.gguf_info import human_bytes

STALLED_AFTER = 3.0  # seconds without bytes before the speed shows as "waiting for the server"
STATES = ("queued", "checking", "downloading", "verifying", "paused", "cancelled", "failed", "done")
FINISHED = ("paused", "cancelled", "failed", "done")


@dataclass(frozen=True)
class FileProgress:
    name: str
    role: str  # "text" | "mmproj"
    done: int = 0
    total: int | None = None
    speed: float = 0.0  # bytes per second, over the last few seconds
    eta: float | None = None  # seconds left
    state: str = "queued"
    resumed_from: int = 0  # bytes that were already on disk when this run started

    @property
    def percent(self) -> float | None:
        return 100.0 * self.done / self.total if self.total else None

    def describe(self) -> str:
        parts = [f"{human_bytes(self.done)} / {human_bytes(self.total)}"]
        if self.percent is not None:
            parts.append(f"{self.percent:.0f}%")
        if self.state == "downloading" and self.speed > 0:
            parts.append(f"{human_bytes(self.speed)}/s")
            parts.append(f"{format_eta(self.eta)} left")
        elif self.state == "downloading" and self.done < (self.total or 0):
            parts.append("waiting for the server…")
        elif self.state == "waiting":
            parts.append("waiting for another download of this file")
        elif self.state != "queued":
            parts.append(self.state)
        return " · ".join(parts)


@dataclass(frozen=True)
class DownloadEvent:
    job_id: str
    model_id: str
    state: str
    files: tuple[FileProgress, ...]
    message: str = ""

    @property
    def done(self) -> int:
        return sum(f.done for f in self.files)

    @property
    def total(self) -> int | None:
        totals = [f.total for f in self.files]
        return None if None in totals else sum(totals)  # type: ignore[arg-type]


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown time"
    if seconds < 0.5:
        return "under 1 s"
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class SpeedMeter:
    """Bytes per second over a sliding window that ends at the moment asked about."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, total: int) -> float:
        self.samples.append((now, total))
        # keep one sample from before the window as its starting point
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()
        return self.rate(now)

    def rate(self, now: float) -> float:
        if not self.samples:
            return 0.0
        t0, b0 = self.samples[0]
        return (self.samples[-1][1] - b0) / (now - t0) if now > t0 else 0.0
