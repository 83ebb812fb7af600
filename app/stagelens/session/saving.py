"""Every write the session makes to its store, in the order it made them.

A write that cannot be made now (another program holds a lock, the disk is full) waits, with
every write after it, and is tried again (`retry`: the window's timer, or `wait` when the program
quits), so none is dropped and none overtakes another: a question is saved before its partial
answers, those before the finished one. Partial answers replace each other while they wait.
If the store stays unavailable until the program quits, what could not be saved is written to a
rescue file (`rescue`), a JSON export beside the history.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stagelens.fileio import write_atomic
from stagelens.session.conversation import Conversation
from stagelens.session.events import Event
from stagelens.session.export import to_json
from stagelens.session.store import ConversationStore, StoreNotice, StoreResetError, StoreUnavailableError

log = logging.getLogger(__name__)

RESCUE_FOLDER = "unsaved"
WAIT_SLICE_S = 0.2  # how often `wait` tries again


@dataclass
class Write:
    what: str  # for messages: "the question", "the answer", ...
    run: Callable[[ConversationStore], None]
    conversation: Conversation | None = None  # skipped once this conversation is deleted
    key: object = None  # a waiting write with the same key is replaced (partial answers)
    after: Callable[[], None] | None = None  # once it is saved


class SaveQueue:
    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self._writes: deque[Write] = deque()
        self.reason = ""  # why writes wait
        self._reported: tuple[int, str] = (0, "")
        self.changed: Event[[int, str]] = Event()  # how many writes wait, and why
        self.failed: Event[[str]] = Event()  # a write that cannot succeed was dropped (a bug)
        self.reset: Event[[StoreNotice]] = Event()  # the store started anew: what the session holds is saved again
        self.opened: Event[[StoreNotice]] = Event()  # a store that was locked when the program started opened

    @property
    def pending(self) -> int:
        return len(self._writes)

    def waiting_conversations(self) -> list[Conversation]:
        found: list[Conversation] = []
        for write in self._writes:
            if write.conversation is not None and all(c is not write.conversation for c in found):
                found.append(write.conversation)
        return found

    def add(self, write: Write) -> str | None:
        """Save now, or after the writes that wait; the message when it failed for good."""
        if write.key is not None:
            for i, waiting in enumerate(self._writes):
                if waiting.key == write.key:
                    self._writes[i] = write
                    return None
        self._writes.append(write)
        if len(self._writes) > 1:
            self._report()
            return None
        return self._run()

    def retry(self) -> bool:
        """Try the waiting writes again (and a store that could not be opened); True when none waits."""
        if not self.store.ready:
            notice = self.store.retry_open()
            if notice is not None:
                self.opened.emit(notice)
        if self._writes:
            self._run()
        self._report()
        return not self._writes

    def wait(self, timeout_s: float, tick: Callable[[], None] | None = None) -> bool:
        """Retry until every write is saved or `timeout_s` passed; True when none waits."""
        deadline = time.monotonic() + timeout_s
        while not self.retry():
            if time.monotonic() >= deadline:
                return False
            if tick is not None:
                tick()
            time.sleep(WAIT_SLICE_S)
        return True

    def rescue(self, extra: Sequence[Conversation] = ()) -> Path | None:
        """Write every conversation a waiting write belongs to (with `extra`) to one JSON file in
        the store's folder; its path (None when there was nothing to keep)."""
        conversations = self.waiting_conversations()
        for conversation in extra:
            if all(c is not conversation for c in conversations):
                conversations.append(conversation)
        if not conversations:
            return None
        folder = self.store.folder / RESCUE_FOLDER
        name = time.strftime("%Y%m%d-%H%M%S") + "-" + _slug(conversations[0].title) + ".json"
        path = folder / name
        n = 2
        while path.exists():
            path = folder / f"{path.stem}-{n}.json"
            n += 1
        body = ",\n".join(to_json(c.title, c.turns, with_unfinished=True).rstrip() for c in conversations)
        write_atomic(path, f"[\n{body}\n]\n".encode())
        log.warning("%d writes could not be saved (%s): kept in %s", self.pending, self.reason, path)
        return path

    def _run(self) -> str | None:
        failure: str | None = None
        while self._writes:
            write = self._writes[0]
            if write.conversation is not None and write.conversation.deleted:
                self._writes.popleft()
                continue
            try:
                write.run(self.store)
            except StoreUnavailableError as exc:
                self.reason = str(exc)
                self._report()
                return None
            except StoreResetError as exc:
                self._writes.clear()
                self.reason = ""
                self._report()
                self.reset.emit(exc.notice)
                return None
            except Exception as exc:  # not something waiting helps with: say so, go on with the rest
                log.exception("saving %s failed", write.what)
                self._writes.popleft()
                failure = f"{write.what[0].upper()}{write.what[1:]} could not be saved: {exc}"
                self.failed.emit(failure)
                continue
            self._writes.popleft()
            if write.after is not None:
                write.after()
        self.reason = ""
        self._report()
        return failure

    def _report(self) -> None:
        state = (len(self._writes), self.reason if self._writes else "")
        if state != self._reported:
            self._reported = state
            self.changed.emit(*state)


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:40] or "conversation"
