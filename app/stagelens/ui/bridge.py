"""Where the window meets other threads; every queued connection is made here.

- `QtRunner` is the session's runner in the window: it starts the engine thread (ui/worker.py),
  sends it requests and hands what it reports to the session on the GUI thread.
- `ImageEvents` tells the GUI thread when an image finished loading on a loader thread.
- `DownloadEvents` carries model download events from the download threads to the GUI thread.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from stagelens.engine import StageEvent, Trace
from stagelens.images import ChatImage
from stagelens.session.runner import AnswerJob, LoadedModel, RunnerSink
from stagelens.settings import LoadSettings
from stagelens.ui.guard import guarded
from stagelens.ui.worker import EngineWorker

log = logging.getLogger(__name__)

QUEUED = Qt.ConnectionType.QueuedConnection
STOP_WAIT_MS = 30000


class QtRunner(QObject):
    """The engine on its own QThread (a Runner); call `close()` before quitting."""

    load_requested = Signal(object)
    ask_requested = Signal(object)
    shutdown_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sink: RunnerSink | None = None
        self.engine_thread = QThread()
        self.engine_thread.setObjectName("stagelens-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.engine_thread)
        self.load_requested.connect(self.worker.load, QUEUED)
        self.ask_requested.connect(self.worker.ask, QUEUED)
        self.shutdown_requested.connect(self.worker.shutdown, QUEUED)
        self.worker.loaded.connect(self._loaded, QUEUED)
        self.worker.load_failed.connect(self._load_failed, QUEUED)
        self.worker.stage_event.connect(self._stage_event, QUEUED)
        self.worker.answered.connect(self._answered, QUEUED)
        self.worker.failed.connect(self._failed, QUEUED)
        self.engine_thread.start()

    # --------------------------------------------------------------- Runner
    def bind(self, sink: RunnerSink) -> None:
        self._sink = sink

    def load(self, settings: LoadSettings) -> None:
        self.load_requested.emit(settings)

    def start(self, job: AnswerJob) -> None:
        self.ask_requested.emit(job)

    def close(self, job: AnswerJob | None = None) -> None:
        if job is not None:
            job.cancel.set()
        if self.engine_thread.isRunning():
            self.shutdown_requested.emit()
            self.engine_thread.quit()
            self.engine_thread.wait(STOP_WAIT_MS)

    # ------------------------------------------ reports, on the GUI thread
    def _report(self) -> RunnerSink:
        if self._sink is None:
            raise RuntimeError("the engine thread is not bound to a session")
        return self._sink

    @Slot(object)
    @guarded
    def _loaded(self, loaded: LoadedModel) -> None:
        self._report().model_loaded(loaded)

    @Slot(object)
    @guarded
    def _load_failed(self, error: BaseException) -> None:
        self._report().model_failed(error)

    @Slot(int, object)
    @guarded
    def _stage_event(self, job_id: int, event: StageEvent) -> None:
        self._report().answer_event(job_id, event)

    @Slot(int, object)
    @guarded
    def _answered(self, job_id: int, trace: Trace) -> None:
        self._report().answer_done(job_id, trace)

    @Slot(int, object)
    @guarded
    def _failed(self, job_id: int, error: BaseException) -> None:
        self._report().answer_failed(job_id, error)


class ImageEvents(QObject):
    """`finished(image)` on the GUI thread when a watched image is done loading (or failed)."""

    finished = Signal(object)  # ChatImage
    _done = Signal(object)  # emitted on the loader's thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._done.connect(self.finished, QUEUED)

    def watch(self, image: ChatImage) -> None:
        image.when_done(self._relay)

    def _relay(self, image: ChatImage) -> None:
        try:
            self._done.emit(image)
        except RuntimeError:  # the window was closed while the image loaded
            log.debug("an image finished after its window closed")


class DownloadEvents(QObject):
    """`arrived(DownloadEvent)` on the GUI thread for each `report(event)` made on a download thread."""

    arrived = Signal(object)  # DownloadEvent
    _reported = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reported.connect(self.arrived, QUEUED)

    def report(self, event: object) -> None:
        self._reported.emit(event)
