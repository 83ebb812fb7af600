"""A download's files on disk: the partial file and its sidecar, and one lock per file."""

from __future__ import annotations

import threading
from pathlib import Path

from stagelens.models.registry import Registry

PART_SUFFIX = ".part"


_file_locks: dict[Path, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def file_lock(final: Path) -> threading.Lock:
    """One lock per final file path, held while a job writes that file's partial download."""
    key = final.resolve()
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.Lock())


def part_paths(final: Path) -> tuple[Path, Path]:
    part = final.with_name(final.name + PART_SUFFIX)
    return part, part.with_name(part.name + ".json")


def partial_downloads(folder: Path | None = None) -> list[Path]:
    """Partial files left by interrupted downloads (what `models list` reports as resumable)."""
    root = Path(folder) if folder is not None else Registry().folder
    return sorted(root.glob(f"*/*.gguf{PART_SUFFIX}"))
