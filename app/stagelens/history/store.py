"""The history store: conversations in SQLite (WAL), images as files named by their digest, every
answer's full trace as JSON. It stores and returns the session's own types.

Answers are written ahead: the question (with its conversation, for a first question) and an
answer row marked 'streaming' in one transaction the moment it is sent, the partial answer while
it streams (each time in one transaction), and the finished trace at the end. A program killed at
any moment leaves the question and what had been written of its answer; reopened, that answer is
`Answer.interrupted`.

Opening never fails on the history's own file: a damaged or unreadable one is kept aside and a new
one started (recovery.py), a locked one is waited for and tried again later (`retry_open`).
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from stagelens.fileio import write_atomic
from stagelens.history import branches, recovery, schema
from stagelens.history.cleanup import Cleaned, InstanceLock, clean
from stagelens.history.rows import (
    DONE,
    STREAMING,
    StoredImage,
    finished_row,
    image_names,
    partial_json,
)
from stagelens.history.statements import (
    escape_like,
    insert_answer,
    insert_conversation,
    insert_every_turn,
    insert_turn,
    next_version,
    read_tree,
    touch,
    touch_turn,
)
from stagelens.images import ChatImage
from stagelens.paths import data_dir
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn
from stagelens.session.store import (
    OpenImage,
    StoreBusyError,
    StoreNotice,
    StoreResetError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
IMAGES_NAME = "images"
BUSY_TIMEOUT_S = 0.05  # how long one read or write waits for a lock (the window's thread waits this long)
OPEN_WAIT_S = 3.0  # how long opening waits for a lock before going on without the history for now

P = ParamSpec("P")
R = TypeVar("R")


def _guarded(method: Callable[Concatenate[HistoryStore, P], R]) -> Callable[Concatenate[HistoryStore, P], R]:
    """SQLite errors as the session's: damage resets the store, the rest may work later."""

    @functools.wraps(method)
    def run(self: HistoryStore, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._db is None:
            raise self._not_open()
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            if recovery.is_damage(exc):
                raise self._reset(str(exc)) from exc
            raise recovery.translate(exc) from exc
        except OSError as exc:  # an image file that could not be written (disk full, ...): later
            raise StoreUnavailableError(f"the history cannot be written: {exc.strerror or exc}") from exc

    return run


class HistoryStore:
    def __init__(
        self, folder: Path | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S, open_wait_s: float = OPEN_WAIT_S
    ) -> None:
        self.folder = Path(folder) if folder is not None else data_dir()
        self.images_dir = self.folder / IMAGES_NAME
        self.db_path = self.folder / DB_NAME
        self.notices: list[StoreNotice] = []
        self.cleaned = Cleaned()
        self.migrated_from: int | None = None  # the schema version an older history was migrated from
        self._busy_timeout_s = busy_timeout_s
        self._db: sqlite3.Connection | None = None
        self._broken: str | None = None  # why the history cannot be used at all (not retried)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._instance = InstanceLock(self.folder)
        self._open(open_wait_s)
        if self._db is not None:
            try:
                self.cleaned = clean(self._db, self.images_dir, sole=self._instance.sole)
            except (sqlite3.Error, OSError) as exc:  # leftovers wait for the next start
                log.info("history cleanup skipped: %s", exc)
        self._instance.share()

    # ------------------------------------------------------------ opening
    @property
    def ready(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._broken = self._broken or "it was closed"
        self._instance.release()

    def retry_open(self) -> StoreNotice | None:
        """Try again to open a history that was locked; the notice when it opened now."""
        if self._db is not None or self._broken is not None:
            return None
        self._open(0.0, retried=True)
        if self._db is None:
            return None
        notice = StoreNotice("available", "The history is free again: earlier conversations are back.")
        return notice

    def _open(self, wait_s: float, retried: bool = False) -> None:
        deadline = time.monotonic() + wait_s
        recovered = False
        while True:
            try:
                self._db = self._connect()
                return
            except StoreBusyError:
                if time.monotonic() >= deadline:
                    if not retried:
                        self.notices.append(
                            StoreNotice(
                                "locked",
                                "The history is locked by another program. StageLens keeps trying; "
                                "new answers are kept until they can be saved.",
                            )
                        )
                    return
                time.sleep(0.1)
            except recovery.DamagedHistoryError as exc:
                if recovered:  # a new, empty history failed too: the folder itself is the problem
                    self._give_up(str(exc))
                    return
                notice = self._move_aside(str(exc))
                if notice is None:
                    return
                self.notices.append(notice)
                recovered = True
            except schema.NewerHistoryError as exc:
                self._give_up(str(exc))
                return

    def _connect(self) -> sqlite3.Connection:
        path = self.db_path
        if path.exists() and not path.is_file():
            raise recovery.DamagedHistoryError("it is a folder, not a database file")
        self.images_dir.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        try:
            db = sqlite3.connect(path, timeout=self._busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        try:
            if new:
                db.execute("PRAGMA journal_mode=WAL")
            else:
                recovery.quick_check(db, path.stat().st_size)
            self.migrated_from = schema.prepare(db)
            if not new and db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            db.close()
            raise self._open_error(exc) from exc
        except BaseException:
            db.close()
            raise
        return db

    def _open_error(self, exc: sqlite3.Error) -> Exception:
        if recovery.is_busy(exc):
            return StoreBusyError(str(exc))
        if recovery.is_damage(exc) or recovery.is_unopenable(exc):
            return recovery.DamagedHistoryError(str(exc))
        return recovery.DamagedHistoryError(f"it cannot be used: {exc}")

    def _move_aside(self, reason: str) -> StoreNotice | None:
        try:
            aside = recovery.move_aside(self.folder, DB_NAME, IMAGES_NAME)
        except OSError as exc:
            self._give_up(f"{reason}, and it could not be moved aside ({exc.strerror or exc})")
            return None
        log.info("history %s unusable (%s): moved to %s", self.db_path, reason, aside)  # the notice says it
        return StoreNotice(
            "recovered",
            f"The history could not be read ({reason}). It was kept in {aside} and a new history was started.",
            aside,
        )

    def _give_up(self, reason: str) -> None:
        self._broken = reason
        self.notices.append(
            StoreNotice("unavailable", f"The history {self.db_path} cannot be used: {reason}. Nothing is saved.")
        )

    def _not_open(self) -> StoreUnavailableError:
        if self._broken is not None:
            return StoreUnavailableError(f"the history cannot be used: {self._broken}")
        return StoreBusyError("the history is locked by another program")

    def _reset(self, reason: str) -> StoreResetError:
        """Damage met while open: keep the file aside, start a new history (the caller saves again what
        it holds)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        notice = self._move_aside(reason)
        if notice is None:
            return StoreResetError(self.notices[-1])
        self._open(OPEN_WAIT_S, retried=True)
        return StoreResetError(notice)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _read(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db

    # ------------------------------------------------------------ images
    def _store_images(self, turn: Turn) -> str:
        """Keep the turn's decoded images' bytes under their digests (once, however many turns show
        them); its images column. An image still being read is left for a later write."""
        stored = []
        for image in turn.images:
            if image.ok:
                stored.append(self._store_image(image).to_json())
        return json.dumps(stored)

    def _store_image(self, image: ChatImage) -> StoredImage:
        if not image.ok:
            raise ValueError(f"{image.name} is not a readable image and cannot be stored")
        suffix = image.suffix.lower() or ".png"
        stored = StoredImage(image.digest, image.name, suffix, image.original_size, image.sent_size)
        path = self.images_dir / stored.file_name
        if not path.exists():
            write_atomic(path, image.data)
        return stored

    def image_files(self) -> list[Path]:
        return sorted(p for p in self.images_dir.iterdir() if p.is_file() and not p.name.startswith("."))

    # ----------------------------------------------------- conversations
    @_guarded
    def create_conversation(self, title: str) -> int:
        with self._transaction() as db:
            return insert_conversation(db, title)

    @_guarded
    def list_conversations(self, search: str = "") -> list[ConversationSummary]:
        query = "SELECT id, title, created, updated FROM conversations"
        params: tuple = ()
        if search.strip():
            like = f"%{escape_like(search.strip())}%"
            # The answer is matched on its conclusion (what the user reads), never on the raw trace
            # JSON, whose keys, settings and hidden candidates would match nearly every search.
            query += (
                " WHERE title LIKE ? ESCAPE '\\' OR id IN (SELECT t.conversation_id FROM turns t"
                " LEFT JOIN answers a ON a.turn_id = t.id"
                " WHERE t.question LIKE ? ESCAPE '\\'"
                " OR json_extract(a.trace, '$.conclusion') LIKE ? ESCAPE '\\')"
            )
            params = (like, like, like)
        query += " ORDER BY updated DESC, id DESC"
        return [ConversationSummary(*row) for row in self._read().execute(query, params)]

    @_guarded
    def conversation(self, conversation_id: int) -> ConversationSummary | None:
        row = (
            self._read()
            .execute("SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,))
            .fetchone()
        )
        return ConversationSummary(*row) if row else None

    def load_conversation(self, conversation_id: int, open_image: OpenImage) -> Conversation | None:
        """A saved conversation with its turns; `open_image(file, name, suffix)` makes each image."""
        row = self.conversation(conversation_id)
        if row is None:
            return None
        roots, chosen_root = read_tree(self._read(), conversation_id, self.images_dir, open_image)
        return Conversation(row.id, row.title, roots=roots, chosen_root=chosen_root)

    @_guarded
    def rename(self, conversation_id: int, title: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    @_guarded
    def delete(self, conversation_id: int) -> None:
        """Delete a conversation, and the image files only it used."""
        with self._transaction() as db:
            rows = db.execute("SELECT images FROM turns WHERE conversation_id = ?", (conversation_id,)).fetchall()
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            candidates: set[str] = set()
            for (images,) in rows:
                candidates |= image_names(images)
            for (images,) in db.execute("SELECT images FROM turns"):
                candidates -= image_names(images)
        for name in candidates:
            (self.images_dir / name).unlink(missing_ok=True)

    # ------------------------------------------------------------- turns
    @_guarded
    def add_turn(self, conversation_id: int, turn: Turn, answer: Answer, first: bool = False) -> int:
        """A question with its images and its finished first answer, committed together; after
        `turn.parent` once saved, at the start (`first`), or else after the turn asked last."""
        images = self._store_images(turn)
        trace_json, error = finished_row(answer)
        with self._transaction() as db:
            parent_id = branches.parent_for(db, conversation_id, turn, first)
            turn_id = insert_turn(db, conversation_id, turn.question, images, parent_id)
            answer.id = insert_answer(db, turn_id, 0, answer, DONE, trace_json, error)
            touch(db, conversation_id, answer.created)
        return turn_id

    @_guarded
    def add_answer(self, turn_id: int, answer: Answer) -> int:
        """Another finished version of a turn's answer (regenerate); it becomes the selected one."""
        trace_json, error = finished_row(answer)
        with self._transaction() as db:
            version = next_version(db, turn_id)
            answer.id = insert_answer(db, turn_id, version, answer, DONE, trace_json, error)
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))
            touch_turn(db, turn_id, answer.created)
        return version

    @_guarded
    def select_answer(self, turn_id: int, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn_id))

    @_guarded
    def choose_branch(self, conversation_id: int, parent_id: int | None, index: int) -> None:
        with self._transaction() as db:
            branches.choose(db, conversation_id, parent_id, index)

    # ---------------------------------------------------- written ahead
    @_guarded
    def start_turn(self, conversation: Conversation, turn: Turn, answer: Answer) -> None:
        """The question just sent, with an answer row to be filled while it streams; a conversation
        not saved yet is created with it. Sets conversation.id, turn.id and answer.id."""
        images = self._store_images(turn)
        with self._transaction() as db:
            conversation_id, parent_id = conversation.id, None
            if conversation_id is None:
                conversation_id = insert_conversation(db, conversation.title)
            else:
                parent_id = branches.parent_for(db, conversation_id, turn, first=turn.parent is None)
            turn_id = insert_turn(db, conversation_id, turn.question, images, parent_id)
            answer_id = insert_answer(db, turn_id, 0, answer, STREAMING, None, None, partial_json(answer))
            touch(db, conversation_id, answer.created)
        conversation.id, turn.id, answer.id = conversation_id, turn_id, answer_id

    @_guarded
    def start_answer(self, turn: Turn, answer: Answer) -> None:
        """Another version of a saved turn's answer, about to stream (regenerate); it is selected."""
        if turn.id is None:
            raise ValueError("the turn is not saved")
        with self._transaction() as db:
            version = next_version(db, turn.id)
            answer.id = insert_answer(db, turn.id, version, answer, STREAMING, None, None, partial_json(answer))
            db.execute("UPDATE turns SET selected = ? WHERE id = ?", (version, turn.id))
            touch_turn(db, turn.id, answer.created)

    @_guarded
    def save_partial(self, turn: Turn, answer: Answer) -> None:
        """What an answer being written holds so far (and the turn's images that are read by now)."""
        if answer.id is None or turn.id is None:
            raise ValueError("the answer is not saved")
        images = self._store_images(turn)
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET partial = ? WHERE id = ? AND state = ?",
                (partial_json(answer), answer.id, STREAMING),
            )
            db.execute("UPDATE turns SET images = ? WHERE id = ?", (images, turn.id))

    @_guarded
    def finish_answer(self, turn: Turn, answer: Answer) -> None:
        """The answer is done: its trace or its error replaces the partial state."""
        if answer.id is None or turn.id is None:
            raise ValueError("the answer is not saved")
        trace_json, error = finished_row(answer)
        images = self._store_images(turn)
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET trace = ?, error = ?, state = ?, partial = NULL WHERE id = ?",
                (trace_json, error, DONE, answer.id),
            )
            db.execute("UPDATE turns SET images = ? WHERE id = ?", (images, turn.id))
            touch_turn(db, turn.id, time.time())

    @_guarded
    def save_conversation(self, conversation: Conversation) -> None:
        """All of a conversation that is not in this history (after the history was started anew), in
        one transaction; sets every id."""
        turns = conversation.every_turn()  # every branch, each turn after its parent
        images = [self._store_images(turn) for turn in turns]
        with self._transaction() as db:
            conversation_id, ids = insert_every_turn(db, conversation, turns, images)
        conversation.id = conversation_id
        for turn, (turn_id, answer_ids) in zip(turns, ids, strict=True):
            turn.id = turn_id
            for answer, answer_id in zip(turn.versions, answer_ids, strict=True):
                answer.id = answer_id

    @_guarded
    def turns(self, conversation_id: int, open_image: OpenImage) -> list[Turn]:
        """The branch shown of a conversation, first to last."""
        roots, chosen_root = read_tree(self._read(), conversation_id, self.images_dir, open_image)
        return Conversation(roots=roots, chosen_root=chosen_root).turns
