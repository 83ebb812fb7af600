"""How the session gets answers: a runner loads the model and runs one answer at a time, and
reports back to the session through `RunnerSink`.

`EngineRunner` does the work where it is called (the command line and tests call it directly);
the window runs the same `EngineRunner` on its engine thread (ui/worker.py) and relays what it
reports to the GUI thread through queued signals (ui/bridge.py), so both share one code path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from stagelens.engine import CancelFlag, Engine, EngineError, StageEvent, Trace
from stagelens.session.engine_input import EngineRequest, run_answer
from stagelens.settings import LoadSettings, SearchSettings

log = logging.getLogger(__name__)


@dataclass
class AnswerJob:
    job_id: int
    request: EngineRequest
    search: SearchSettings
    cancel: CancelFlag = field(default_factory=CancelFlag)


@dataclass(frozen=True)
class LoadedModel:
    description: str  # what the model file says it is
    backend: str  # CPU, CUDA, Metal, ...


class RunnerSink(Protocol):
    """What a runner reports, each on the thread that owns the session."""

    def model_loaded(self, loaded: LoadedModel) -> None: ...
    def model_failed(self, error: BaseException) -> None: ...
    def answer_event(self, job_id: int, event: StageEvent) -> None: ...
    def answer_done(self, job_id: int, trace: Trace) -> None: ...
    def answer_failed(self, job_id: int, error: BaseException) -> None: ...


class Runner(Protocol):
    def bind(self, sink: RunnerSink) -> None:
        """Where reports go; a runner that already holds a model reports it at once."""

    def load(self, settings: LoadSettings) -> None: ...
    def start(self, job: AnswerJob) -> None: ...
    def close(self, job: AnswerJob | None = None) -> None:
        """Stop `job` (if given) and free the model."""


class EngineRunner:
    """Loads and answers on the calling thread."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self._sink: RunnerSink | None = None

    def bind(self, sink: RunnerSink) -> None:
        self._sink = sink
        if self.engine is not None:
            sink.model_loaded(describe(self.engine))

    def load(self, settings: LoadSettings) -> None:
        self._close_engine()
        try:
            self.engine = Engine(settings)
        except Exception as exc:  # every load failure is explained to the user
            log.warning("model load failed: %s", exc)
            self._report().model_failed(exc)
            return
        self._report().model_loaded(describe(self.engine))

    def start(self, job: AnswerJob) -> None:
        sink = self._report()
        if self.engine is None:
            sink.answer_failed(job.job_id, RuntimeError("no model is loaded"))
            return
        try:
            trace = run_answer(
                self.engine,
                job.request,
                job.search,
                on_event=lambda event: sink.answer_event(job.job_id, event),
                cancel=job.cancel,
            )
        except (EngineError, ValueError) as exc:  # the answer's text says why; the conversation goes on
            log.info("answer failed: %s", exc)
            sink.answer_failed(job.job_id, exc)
            return
        except Exception as exc:  # a bug: the same for the user, with the traceback in the log
            log.exception("answer failed")
            sink.answer_failed(job.job_id, exc)
            return
        sink.answer_done(job.job_id, trace)

    def close(self, job: AnswerJob | None = None) -> None:
        if job is not None:
            job.cancel.set()
        self._close_engine()

    def _report(self) -> RunnerSink:
        if self._sink is None:
            raise RuntimeError("the runner is not bound to a session")
        return self._sink

    def _close_engine(self) -> None:
        if self.engine is not None:
            try:
                self.engine.close()
            finally:
                self.engine = None


def describe(engine: Engine) -> LoadedModel:
    return LoadedModel(str(engine.info.get("desc", "")), engine.backend)


def failure_message(error: BaseException) -> str:
    """An exception as one sentence for the user; it starts with a capital unless it starts with a
    name that must stay as it is (a file name, a path: "mmproj-f16.gguf projects to ...")."""
    text = str(error).strip() or type(error).__name__
    first = text.split(maxsplit=1)[0].rstrip(",;:")
    if first.isalpha() and first.islower():
        return text[0].upper() + text[1:]
    return text
