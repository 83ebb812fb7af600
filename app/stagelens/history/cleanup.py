"""Leftovers of a program that was killed while it wrote: temporary files of atomic writes
(`.<name>.*.tmp`), image files no turn refers to, and conversations without a turn.

Another running StageLens may be writing exactly such a file at this moment (an image is written
just before the row that refers to it, and a write that meets a lock waits in a queue with its
image already on disk). So every program that opens the history holds a shared lock on
`history.lock` for as long as it runs, and leftovers are removed only by a program that could take
that lock exclusively, that is when no other one runs. Where file locks are not available, or when
another program runs, only leftovers older than STALE_AFTER_S are removed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stagelens.history.rows import image_names

log = logging.getLogger(__name__)

LOCK_NAME = "history.lock"
STALE_AFTER_S = 24 * 3600.0
SHARED_WAIT_S = 2.0

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


@dataclass
class Cleaned:
    temporary_files: int = 0
    orphan_images: int = 0
    empty_conversations: int = 0

    def __bool__(self) -> bool:
        return bool(self.temporary_files or self.orphan_images or self.empty_conversations)


class InstanceLock:
    """The shared lock every program holds on the history folder while it runs (see above)."""

    def __init__(self, folder: Path) -> None:
        self._file: IO[bytes] | None = None
        self.sole = False  # no other program held the lock when this one took it
        if fcntl is None:
            return
        try:
            self._file = open(folder / LOCK_NAME, "ab")  # noqa: SIM115 - held for the program's life
        except OSError as exc:
            log.info("no instance lock in %s: %s", folder, exc)
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.sole = True
        except OSError:
            self._share()

    def share(self) -> None:
        """From sole to shared, once the leftovers are gone."""
        if self.sole:
            self._share()

    def _share(self) -> None:
        assert fcntl is not None and self._file is not None
        deadline = time.monotonic() + SHARED_WAIT_S
        while True:  # another program may hold it exclusively for its cleanup, for a moment
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except OSError:
                if time.monotonic() > deadline:
                    log.info("the instance lock stayed taken; going on without it")
                    return
                time.sleep(0.05)

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def clean(db: sqlite3.Connection, images_dir: Path, sole: bool, now: float | None = None) -> Cleaned:
    """Remove the leftovers; with `sole` False only those older than STALE_AFTER_S."""
    now = time.time() if now is None else now
    cutoff = None if sole else now - STALE_AFTER_S
    done = Cleaned()
    for path in images_dir.glob(".*.tmp"):
        if _old_enough(path, cutoff):
            with contextlib.suppress(OSError):
                path.unlink()
                done.temporary_files += 1
    used: set[str] = set()
    for (images,) in db.execute("SELECT images FROM turns"):
        used |= image_names(images)
    for path in images_dir.iterdir():
        if path.is_file() and not path.name.startswith(".") and path.name not in used and _old_enough(path, cutoff):
            with contextlib.suppress(OSError):
                path.unlink()
                done.orphan_images += 1
    condition = "id NOT IN (SELECT conversation_id FROM turns)"
    params: tuple = ()
    if cutoff is not None:
        condition += " AND updated < ?"
        params = (cutoff,)
    (empty,) = db.execute(f"SELECT count(*) FROM conversations WHERE {condition}", params).fetchone()
    if empty:  # a write only when there is something to remove: opening stays a read
        db.execute("BEGIN IMMEDIATE")
        try:
            done.empty_conversations = db.execute(f"DELETE FROM conversations WHERE {condition}", params).rowcount
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    if done:
        log.info("history cleanup: %s", done)
    return done


def _old_enough(path: Path, cutoff: float | None) -> bool:
    if cutoff is None:
        return True
    try:
        return path.stat().st_mtime < cutoff
    except OSError:
        return False
