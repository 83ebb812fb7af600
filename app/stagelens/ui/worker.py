"""The object that lives on the engine's thread: the session's `EngineRunner` does the work there,
and what it reports leaves the thread as signals. ui/bridge.py starts the thread and makes every
connection to and from it (queued). Nothing here touches a widget or the session."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from stagelens.engine import Engine, StageEvent, Trace
from stagelens.session.runner import AnswerJob, EngineRunner, LoadedModel
from stagelens.settings import LoadSettings


class EngineWorker(QObject):
    loaded = Signal(object)  # LoadedModel
    load_failed = Signal(object)  # the exception
    stage_event = Signal(int, object)  # job id, StageEvent
    answered = Signal(int, object)  # job id, Trace
    failed = Signal(int, object)  # job id, the exception

    def __init__(self) -> None:
        super().__init__()
        self.runner = EngineRunner()
        self.runner.bind(self)  # reports come back to the methods below, on this thread

    @property
    def _engine(self) -> Engine | None:
        return self.runner.engine

    @Slot(object)
    def load(self, settings: LoadSettings) -> None:
        self.runner.load(settings)

    @Slot(object)
    def ask(self, job: AnswerJob) -> None:
        self.runner.start(job)

    @Slot()
    def shutdown(self) -> None:
        self.runner.close()

    # what the runner reports (RunnerSink), emitted across to the GUI thread
    def model_loaded(self, loaded: LoadedModel) -> None:
        self.loaded.emit(loaded)

    def model_failed(self, error: BaseException) -> None:
        self.load_failed.emit(error)

    def answer_event(self, job_id: int, event: StageEvent) -> None:
        self.stage_event.emit(job_id, event)

    def answer_done(self, job_id: int, trace: Trace) -> None:
        self.answered.emit(job_id, trace)

    def answer_failed(self, job_id: int, error: BaseException) -> None:
        self.failed.emit(job_id, error)
