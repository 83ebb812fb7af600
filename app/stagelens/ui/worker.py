"""The engine on its own thread. The GUI talks to it only through queued signals:
requests go in as signals connected to the worker's slots, results come back as signals
emitted from the worker thread (Qt queues them to the GUI thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal, Slot

from stagelens.engine import CancelFlag, Engine, LoadSettings, PastTurn, SearchSettings, StageEvent, UserTurn
from stagelens.images import PreparedImage, load_image

log = logging.getLogger(__name__)

PREPARED_CACHE_SIZE = 64  # decoded images kept for follow-up questions


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    name: str


@dataclass(frozen=True)
class HistoryInput:
    question: str
    images: tuple[ImageInput, ...]
    assistant_text: str
    assistant_tokens: tuple[int, ...] | None = None  # Trace.assistant_tokens
    model_key: str | None = None  # Trace.model.key


@dataclass
class AskJob:
    job_id: int
    question: str
    images: list[ImageInput]
    history: list[HistoryInput]
    search: SearchSettings
    image_max_side: int
    cancel: CancelFlag = field(default_factory=CancelFlag)


class EngineWorker(QObject):
    loaded = Signal(str, str)  # model description, backend
    load_failed = Signal(str)
    stage_event = Signal(int, str, str, int, str)  # job id, kind, stage, candidate, text
    answered = Signal(int, object)  # job id, Trace
    failed = Signal(int, str)  # job id, message

    def __init__(self) -> None:
        super().__init__()
        self._engine: Engine | None = None
        self._prepared: dict[tuple[str, int], PreparedImage] = {}

    @Slot(object)
    def load(self, settings: LoadSettings) -> None:
        self._close_engine()
        try:
            self._engine = Engine(settings)
        except Exception as exc:  # every load failure is explained in the window
            log.warning("model load failed: %s", exc)
            self.load_failed.emit(_message(exc))
            return
        self.loaded.emit(str(self._engine.info.get("desc", "")), self._engine.backend)

    @Slot(object)
    def ask(self, job: AskJob) -> None:
        if self._engine is None:
            self.failed.emit(job.job_id, "no model is loaded")
            return
        try:
            history = [
                PastTurn(
                    UserTurn(h.question, tuple(self._image(i, job.image_max_side) for i in h.images)),
                    h.assistant_text,
                    h.assistant_tokens,
                    h.model_key,
                )
                for h in job.history
            ]
            turn = UserTurn(job.question, tuple(self._image(i, job.image_max_side) for i in job.images))

            def relay(event: StageEvent) -> None:
                self.stage_event.emit(job.job_id, event.kind, event.stage, event.candidate, event.text)

            trace = self._engine.answer(turn, history, settings=job.search, on_event=relay, cancel=job.cancel)
        except Exception as exc:  # engine errors become the answer's text; the conversation goes on
            log.exception("answer failed")
            self.failed.emit(job.job_id, _message(exc))
            return
        self.answered.emit(job.job_id, trace)

    @Slot()
    def shutdown(self) -> None:
        self._close_engine()

    def _image(self, image: ImageInput, max_side: int):
        key = (image.name + str(hash(image.data)), max_side)
        if key not in self._prepared:
            if len(self._prepared) >= PREPARED_CACHE_SIZE:
                self._prepared.pop(next(iter(self._prepared)))
            self._prepared[key] = load_image(image.data, max_side=max_side, name=image.name)
        return self._prepared[key]

    def _close_engine(self) -> None:
        if self._engine is not None:
            try:
                self._engine.close()
            finally:
                self._engine = None


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:] if text else text


class EngineThread(QObject):
    """Owns the QThread and the worker living on it; call `stop()` before quitting."""

    load_requested = Signal(object)
    ask_requested = Signal(object)
    shutdown_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("stagelens-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.load_requested.connect(self.worker.load)
        self.ask_requested.connect(self.worker.ask)
        self.shutdown_requested.connect(self.worker.shutdown)
        self.thread.start()

    def stop(self, job: AskJob | None = None) -> None:
        if job is not None:
            job.cancel.set()
        if self.thread.isRunning():
            self.shutdown_requested.emit()
            self.thread.quit()
            self.thread.wait(30000)
