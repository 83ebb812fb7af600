"""What can go wrong with the history's file, and what is done about it.

- Damaged or unreadable (garbage, truncated, garbage pages, a folder, no permission): the history
  folder's database and images are moved into `damaged-<timestamp>/` beside them (never deleted,
  never overwritten) and a new history is started; the notice says where the saved copy is.
- Locked by another program: waited for (SQLite's busy timeout), and tried again later.
- Anything else (disk full, read-only): the write is tried again later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from stagelens.session.store import StoreBusyError, StoreUnavailableError

# the integrity check at open reads the whole file (about 0.04 s for 100 MB in the OS cache here): a bigger history is
# trusted, and damage in it is handled when a query meets it
QUICK_CHECK_MAX_BYTES = 256 << 20

log = logging.getLogger(__name__)

# primary SQLite result codes (https://sqlite.org/rescode.html)
_BUSY, _LOCKED, _CANTOPEN, _CORRUPT, _NOTADB = 5, 6, 14, 11, 26


class DamagedHistoryError(Exception):
    """The history's file cannot be used as a database; str() says why, in a few words."""


def is_busy(exc: sqlite3.Error) -> bool:
    code = _primary(exc)
    return code in (_BUSY, _LOCKED) or "locked" in str(exc).lower()


def is_damage(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return _primary(exc) in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text


def is_unopenable(exc: sqlite3.Error) -> bool:
    return _primary(exc) == _CANTOPEN or "unable to open" in str(exc).lower()


def translate(exc: sqlite3.Error) -> StoreUnavailableError:
    """A failed read or write that may work later, as the session's error."""
    if is_busy(exc):
        return StoreBusyError("the history is locked by another program")
    return StoreUnavailableError(f"the history cannot be written: {exc}")


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def quick_check(db: sqlite3.Connection, size: int, max_bytes: int | None = None) -> bool:
    """SQLite's quick integrity check, for a history of at most `max_bytes` (default
    QUICK_CHECK_MAX_BYTES); whether it ran. Raises DamagedHistoryError."""
    if size > (QUICK_CHECK_MAX_BYTES if max_bytes is None else max_bytes):
        return False
    rows = db.execute("PRAGMA quick_check(5)").fetchall()
    lines = [line for row in rows if row and row[0] != "ok" for line in str(row[0]).splitlines()]
    problems = [line for line in lines if line.strip() and not line.startswith("***")]
    if lines:
        log.info("history integrity check: %s", "; ".join(problems or lines))
        raise DamagedHistoryError("its pages are damaged")
    return True


def move_aside(folder: Path, db_name: str, images_name: str) -> Path:
    """Move the database (with its -wal and -shm files) and the images folder into a new
    `damaged-<timestamp>` folder beside them; that folder is returned. Nothing is deleted, and an
    existing folder is never reused."""
    aside = _new_folder(folder, "damaged-" + time.strftime("%Y%m%d-%H%M%S"))
    for name in (db_name, db_name + "-wal", db_name + "-shm", images_name):
        source = folder / name
        if source.exists() or source.is_symlink():
            os.rename(source, aside / name)
    return aside


def _new_folder(parent: Path, stem: str) -> Path:
    for n in range(1, 1000):
        candidate = parent / (stem if n == 1 else f"{stem}-{n}")
        with contextlib.suppress(FileExistsError):
            candidate.mkdir()
            return candidate
    raise OSError(f"no free name for {parent / stem}")
