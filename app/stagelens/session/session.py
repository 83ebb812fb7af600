"""The session controller: the open conversation, the model it is answered with, and everything
that changes them (new, open, rename, delete, ask, regenerate, stop). No Qt: the window and
`stagelens ask --chat` both drive it, each with its own runner.

Saving is written ahead (session/saving.py queues every write, in order, and retries the ones
that meet a lock): the question the moment it is sent (a first question creates its conversation
then), the partial answer about once a second while it streams, the answer when it is done.

Call it from one thread only (the window's GUI thread); the runner reports back on that thread.
Views observe it through its `Event`s; every state change is followed by one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stagelens.engine import StageEvent, Trace
from stagelens.images import ChatImage, ImageLoader
from stagelens.models.default import ModelChoice
from stagelens.session import branching
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn, title_for
from stagelens.session.effective import chosen_model, default_model_name, load_settings_for, search_settings_for
from stagelens.session.engine_input import request_for
from stagelens.session.events import Event
from stagelens.session.runner import AnswerJob, LoadedModel, Runner, failure_message
from stagelens.session.saving import SaveQueue, Write
from stagelens.session.store import ConversationStore, StoreNotice, StoreResetError, StoreUnavailableError
from stagelens.session.timing import Estimate, ThinkingTimes
from stagelens.settings import AppSettings, SearchSettings

log = logging.getLogger(__name__)

PARTIAL_INTERVAL_S = 1.0  # how often the answer being written is saved while it streams
clock = time.monotonic  # what PARTIAL_INTERVAL_S is measured with


@dataclass
class RunningAnswer:
    job: AnswerJob
    conversation: Conversation
    turn: Turn
    answer: Answer
    regenerate: bool


class Session:
    def __init__(
        self,
        runner: Runner,
        store: ConversationStore | None,
        loader: ImageLoader,
        settings: AppSettings,
        model_override: ModelChoice | None = None,
        image_max_side: int | None = None,
    ) -> None:
        self.runner = runner
        self.store = store  # None: nothing is saved
        self.loader = loader
        self.settings = settings
        self.model_override = model_override
        self._image_max_side = image_max_side  # the command line's, which may be below the window's range
        self.model: ModelChoice | None = None
        self.model_ready = False
        self.backend = ""
        self.conversation = Conversation()
        self.running: RunningAnswer | None = None
        self._job_ids = itertools.count(1)
        self._pending_reload = False
        self.timing = ThinkingTimes()  # thinking time of the answers on each model (preset estimates)
        self._partial_saved_at = 0.0
        self.saves = SaveQueue(store) if store is not None else None

        self.model_loading: Event[[ModelChoice]] = Event()
        self.model_loaded: Event[[LoadedModel]] = Event()
        self.model_failed: Event[[str]] = Event()
        self.conversation_opened: Event[[Conversation]] = Event()  # another conversation (or new) is open
        self.conversations_changed: Event[[]] = Event()  # the saved list changed
        self.turn_added: Event[[Turn]] = Event()
        self.answer_started: Event[[Turn, Answer]] = Event()
        self.answer_updated: Event[[Turn, Answer, StageEvent]] = Event()
        self.answer_finished: Event[[Turn, Answer, str | None]] = Event()  # the save error, if any
        self.version_selected: Event[[Turn]] = Event()
        self.branch_shown: Event[[Conversation]] = Event()  # another branch of the conversation is shown
        self.saves_changed: Event[[int, str]] = Event()  # writes waiting for the store, and why
        self.store_notice: Event[[StoreNotice]] = Event()  # the store started anew, opened late, ...
        self.save_failed: Event[[str]] = Event()  # a write that cannot succeed was dropped
        if self.saves is not None:
            self.saves.changed.connect(self.saves_changed.emit)
            self.saves.failed.connect(self.save_failed.emit)
            self.saves.reset.connect(self._store_reset)
            self.saves.opened.connect(self._store_opened)
        runner.bind(_Reports(self))

    # -------------------------------------------------------------- model
    def load_model(self) -> None:
        """Load the chosen model (the runner reports when it is ready)."""
        self.model_ready = False
        try:
            self.model = chosen_model(self.settings, self.model_override)
        except Exception as exc:
            log.exception("no model")
            self._model_failed(f"No model is available: {exc}")
            return
        if self.model is None:
            self._model_failed("No model is installed. Choose a text model and its vision projector.")
            return
        self.model_loading.emit(self.model)
        self.runner.load(load_settings_for(self.settings, self.model))

    def default_model_name(self) -> str:
        return default_model_name(self.model_override)

    def apply_settings(self, new: AppSettings) -> None:
        """New settings: images are sent at the new size, the model is reloaded when its settings changed
        (after the running answer)."""
        reload = new.load_key() != self.settings.load_key() or not self.model_ready
        resized = new.image_max_side != self.settings.image_max_side
        self.settings = new
        if resized:
            for turn in self.conversation.turns:
                turn.images = self.resize_images(turn.images)
            self.conversation_opened.emit(self.conversation)
        if reload:
            if self.running is not None:
                self._pending_reload = True
            else:
                self.load_model()

    @property
    def image_max_side(self) -> int:
        """The longest side images are sent at."""
        return self._image_max_side or self.settings.image_max_side

    def resize_images(self, images: Sequence[ChatImage]) -> list[ChatImage]:
        """The images as the model is sent them now (decoded again only where the size changed)."""
        return [self.loader.redecode(image, self.image_max_side) for image in images]

    # ------------------------------------------------------------ answers
    def ask(self, question: str, images: Sequence[ChatImage] = (), search: SearchSettings | None = None) -> Turn | None:
        """A new turn, answered at once (with `search`, else the settings' search); None when it cannot be
        asked now (no question, no model, busy). Images may still be loading: the answer waits for them
        (on the runner's thread); one that could not be read is left out."""
        question = question.strip()
        if self.running is not None or not question or not self.model_ready:
            return None
        turn = Turn(question, [i for i in images if i.ok or i.decoding])
        self.conversation.append(turn)
        self.turn_added.emit(turn)
        self._start(turn, False, search)
        return turn

    def edit(self, turn: Turn, question: str, search: SearchSettings | None = None) -> Turn | None:
        """Ask `turn`'s question again as edited: a new branch from there (session/branching.py)."""
        return branching.edit(self, turn, question, search)

    def choose_branch(self, turn: Turn, index: int) -> None:
        """Show the `index`-th of the branches at `turn` (its question and its edits), from there on."""
        branching.choose(self, turn, index)

    def regenerate(self, turn: Turn, search: SearchSettings | None = None) -> bool:
        """Another version of a turn's answer (a new seed); the earlier versions are kept."""
        if self.running is not None or not self.model_ready or turn not in self.conversation.turns:
            return False
        self._start(turn, True, search)
        return True

    def stop(self) -> bool:
        if self.running is None:
            return False
        self.running.job.cancel.set()
        return True

    def select_version(self, turn: Turn, index: int) -> None:
        if not 0 <= index < len(turn.versions) or (self.running is not None and self.running.turn is turn):
            return
        turn.selected = index
        self._save(
            Write(
                "the choice of answer", lambda store: _select(store, turn), self.conversation, key=("select", id(turn))
            )
        )
        self.version_selected.emit(turn)

    def _start(self, turn: Turn, regenerate: bool, search: SearchSettings | None) -> None:
        request = request_for(self.conversation.turns, self.conversation.turns.index(turn))
        job = AnswerJob(next(self._job_ids), request, search or search_settings_for(self.settings))
        answer = Answer(live=True, created=time.time())
        turn.versions.append(answer)
        turn.selected = len(turn.versions) - 1
        conversation = self.conversation
        if conversation.id is None and not conversation.turns[:-1]:
            conversation.title = title_for(turn.question)
        self.running = RunningAnswer(job, conversation, turn, answer, regenerate)
        self.answer_started.emit(turn, answer)
        if regenerate:
            self._save(Write("the new answer", lambda store: store.start_answer(turn, answer), conversation))
        else:
            self._save(
                Write(
                    "the question",
                    lambda store: store.start_turn(conversation, turn, answer),
                    conversation,
                    after=self.conversations_changed.emit,
                )
            )
        self._partial_saved_at = clock()
        self.runner.start(job)

    # ------------------------------------------------------- conversations
    def conversations(self, search: str = "") -> list[ConversationSummary]:
        if self.store is None:
            return []
        try:
            return self.store.list_conversations(search)
        except StoreUnavailableError as exc:  # locked: the list comes back when it opens
            log.info("conversations not listed: %s", exc)
            return []
        except StoreResetError as exc:
            self._store_reset(exc.notice)
            return []

    def new(self) -> None:
        self.stop()
        self.conversation = Conversation()
        self.conversation_opened.emit(self.conversation)

    def open(self, conversation_id: int) -> bool:
        """Open a saved conversation (its images are read in the background); False when it is gone."""
        if self.conversation.id == conversation_id:
            return True
        if self.store is None:
            return False
        try:
            conversation = self.store.load_conversation(conversation_id, self._open_image)
        except StoreUnavailableError as exc:
            log.info("conversation %s not opened: %s", conversation_id, exc)
            return False
        except StoreResetError as exc:
            self._store_reset(exc.notice)
            return False
        if conversation is None:
            self.conversations_changed.emit()
            return False
        self.stop()
        self.conversation = conversation
        self.conversation_opened.emit(conversation)
        return True

    def rename(self, conversation_id: int, title: str) -> None:
        if self.conversation.id == conversation_id:
            self.conversation.title = title
        self._save(
            Write(
                "the new title",
                lambda store: store.rename(conversation_id, title),
                key=("rename", conversation_id),
                after=self.conversations_changed.emit,
            )
        )
        self.conversations_changed.emit()

    def delete(self, conversation_id: int) -> None:
        if self.running is not None and self.running.conversation.id == conversation_id:
            self.running.conversation.deleted = True
            self.stop()
        if self.conversation.id == conversation_id:
            self.conversation.deleted = True
            self.new()
        self._save(
            Write("the deletion", lambda store: store.delete(conversation_id), after=self.conversations_changed.emit)
        )
        self.conversations_changed.emit()

    # ------------------------------------------------------------- saving
    @property
    def saves_pending(self) -> int:
        """Writes waiting for the store (locked, full, ...)."""
        return self.saves.pending if self.saves is not None else 0

    @property
    def store_waiting(self) -> bool:
        """Whether something waits for the store: writes, or a store that could not be opened yet."""
        return self.store is not None and (self.saves_pending > 0 or not self.store.ready)

    def retry_saves(self) -> bool:
        """Try the waiting writes again; True when none waits (the window calls this on a timer)."""
        return self.saves.retry() if self.saves is not None else True

    def close(self, wait_s: float = 0.0, tick: Callable[[], None] | None = None) -> Path | None:
        """Stop the answer being written (what it holds is saved), free the model, and wait up to
        `wait_s` for writes that wait for the store. What still could not be saved is written to a
        rescue file, whose path is returned."""
        running = self.running
        self.runner.close(running.job if running else None)
        rescue = None
        if self.saves is not None:
            if running is not None:
                self._save_partial(running)
            if not self.saves.wait(wait_s, tick):
                try:
                    rescue = self.saves.rescue()
                except OSError as exc:
                    log.error("the rescue file could not be written: %s", exc)
        if self.store is not None:
            self.store.close()
        return rescue

    def _save(self, write: Write) -> str | None:
        return self.saves.add(write) if self.saves is not None else None

    def _save_partial(self, running: RunningAnswer) -> None:
        turn, answer = running.turn, running.answer
        self._partial_saved_at = clock()
        self._save(
            Write(
                "the answer being written",
                lambda store: store.save_partial(turn, answer),
                running.conversation,
                key=("partial", id(answer)),
            )
        )

    def _store_reset(self, notice: StoreNotice) -> None:
        """The store found its file damaged and started anew: what is in memory is saved again."""
        conversations = [self.conversation]
        if self.running is not None and self.running.conversation is not self.conversation:
            conversations.append(self.running.conversation)
        for conversation in conversations:
            if not conversation.turns or conversation.deleted:
                continue
            conversation.id = None
            for turn in conversation.every_turn():
                turn.id = None
                for answer in turn.versions:
                    answer.id = None
            self._save(
                Write(
                    "the open conversation",
                    lambda store, c=conversation: store.save_conversation(c),  # type: ignore[misc]
                    conversation,
                )
            )
        self.store_notice.emit(notice)
        self.conversations_changed.emit()

    def _store_opened(self, notice: StoreNotice) -> None:
        self.store_notice.emit(notice)
        self.conversations_changed.emit()

    def _open_image(self, path: Path, name: str, suffix: str) -> ChatImage:
        return self.loader.from_history(path, name, suffix, self.image_max_side)

    # ------------------------------------------------- what the runner reports
    def _loaded(self, loaded: LoadedModel) -> None:
        self.model_ready = True
        self.backend = loaded.backend
        self.model_loaded.emit(loaded)

    def _event(self, job_id: int, event: StageEvent) -> None:
        running = self.running
        if running is None or running.job.job_id != job_id:
            return
        running.answer.on_event(
            event.kind, event.stage, event.candidate, event.text, event.image_tokens, event.text_tokens, event.at
        )
        if event.kind == "stage_end" or clock() - self._partial_saved_at >= PARTIAL_INTERVAL_S:
            self._save_partial(running)
        self.answer_updated.emit(running.turn, running.answer, event)

    def _done(self, job_id: int, trace: Trace | None, error: BaseException | None) -> None:
        running = self._finish(job_id)
        if running is None:
            return
        if trace is not None:
            running.answer.trace = trace
            self.timing.add_answer(self.model_key, running.job.search, running.answer, trace)
        else:
            running.answer.error = failure_message(error or RuntimeError("no answer"))
            running.answer.cause = error
        self._after(running)

    @property
    def model_key(self) -> str:
        """Which model the timings are of (its text file)."""
        return str(self.model.text) if self.model is not None else ""

    def estimate(self, preset: str | None = None) -> Estimate:
        """Thinking time of preset `preset` (default: the settings') relative to Fast, on the current model."""
        return self.timing.estimate_preset(self.model_key, self.settings, preset)

    def _model_failed(self, message: str) -> None:
        self.model_ready = False
        self.model_failed.emit(message)

    def _finish(self, job_id: int) -> RunningAnswer | None:
        running = self.running
        if running is None or running.job.job_id != job_id:
            return None
        self.running = None
        running.answer.live = False
        return running

    def _after(self, running: RunningAnswer) -> None:
        turn, answer = running.turn, running.answer
        save_error = self._save(
            Write(
                "the answer",
                lambda store: store.finish_answer(turn, answer),
                running.conversation,
                after=self.conversations_changed.emit,
            )
        )
        self.answer_finished.emit(turn, answer, save_error)
        if self._pending_reload:
            self._pending_reload = False
            self.load_model()


class _Reports:
    """The session's side of the runner (a RunnerSink), kept out of the session's own API."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def model_loaded(self, loaded: LoadedModel) -> None:
        self._session._loaded(loaded)

    def model_failed(self, error: BaseException) -> None:
        self._session._model_failed(failure_message(error))

    def answer_event(self, job_id: int, event: StageEvent) -> None:
        self._session._event(job_id, event)

    def answer_done(self, job_id: int, trace: Trace) -> None:
        self._session._done(job_id, trace, None)

    def answer_failed(self, job_id: int, error: BaseException) -> None:
        self._session._done(job_id, None, error)


def _select(store: ConversationStore, turn: Turn) -> None:
    if turn.id is not None:
        store.select_answer(turn.id, turn.selected)
