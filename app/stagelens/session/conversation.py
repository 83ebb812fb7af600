"""The conversation as the model sees it: turns, each with its question, its images and the
versions of its answer. These are the only types for these concepts: the session changes them,
the window shows them, the history stores and returns them."""

from __future__ import annotations

from dataclasses import dataclass, field

from stagelens.engine import Trace
from stagelens.images import ChatImage

NEW_TITLE = "New chat"
TITLE_CHARS = 60
STAGE_TITLES = {"summary": "Summary", "caption": "Caption", "reasoning": "Reasoning", "conclusion": "Conclusion"}


@dataclass(eq=False)
class Answer:
    """One version of a turn's answer: a finished trace, an error, or the live state of an answer
    being produced (stage texts as they stream)."""

    trace: Trace | None = None
    error: str | None = None
    live: bool = False
    stage: str = "summary"  # stage being produced (live)
    texts: dict[tuple[str, int], str] = field(default_factory=dict)  # (stage, candidate) -> text so far
    finished: dict[str, str] = field(default_factory=dict)  # stage -> winner's text (live)
    created: float = 0.0  # when it was asked for (seconds since the epoch)
    id: int | None = None  # row in the history, once saved (written ahead, when it starts)
    # the program stopped before it was done (a crash, a kill): `texts`, `finished` and `stage` hold
    # what it had written, and it can be regenerated
    interrupted: bool = False
    # the exception behind `error` while the program that hit it runs (never stored)
    cause: BaseException | None = field(default=None, repr=False)

    def on_event(self, kind: str, stage: str, candidate: int, text: str) -> None:
        if kind == "stage_begin":
            self.stage = stage
        elif kind == "text":
            key = (stage, candidate)
            self.texts[key] = self.texts.get(key, "") + text
        elif kind == "stage_end":
            winner = candidate if (stage, candidate) in self.texts else 0
            self.finished[stage] = self.texts.get((stage, winner), "")

    def live_text(self, stage: str) -> str:
        if stage in self.finished:
            return self.finished[stage]
        return self.texts.get((stage, 0), "")

    @property
    def unfinished_stages(self) -> list[tuple[str, str]]:
        """(stage, text so far) of every stage an interrupted or live answer reached, in order."""
        order = list(STAGE_TITLES)
        reached = {stage for stage, _candidate in self.texts} | set(self.finished) | {self.stage}
        return [(stage, self.live_text(stage)) for stage in order if stage in reached]

    @property
    def stopped(self) -> bool:
        return self.trace is not None and self.trace.cancelled

    @property
    def conclusion(self) -> str:
        if self.trace is not None:
            return self.trace.conclusion
        return self.live_text("conclusion").strip()


@dataclass(eq=False)
class Turn:
    question: str
    images: list[ChatImage]
    versions: list[Answer] = field(default_factory=list)
    selected: int = 0
    id: int | None = None  # row in the history, once saved

    @property
    def answer(self) -> Answer | None:
        return self.versions[self.selected] if self.versions else None

    def usable_for_history(self) -> bool:
        """Finished, not stopped, not failed: safe to give the model as an earlier turn."""
        answer = self.answer
        return answer is not None and answer.trace is not None and not answer.trace.cancelled and not answer.live

    def finished_answers(self) -> tuple[list[Answer], int | None]:
        """The answers that are done (one being written is left out) and the index among them of the one
        to show: the selected answer, or the latest finished one while the selected is unfinished."""
        finished = [v for v in self.versions if not v.live]
        if not finished:
            return finished, None
        chosen = self.answer
        return finished, next((i for i, v in enumerate(finished) if v is chosen), len(finished) - 1)


@dataclass(eq=False)
class Conversation:
    id: int | None = None  # row in the history, once saved
    title: str = NEW_TITLE
    turns: list[Turn] = field(default_factory=list)
    deleted: bool = False  # deleted while an answer for it was running: nothing more is saved


@dataclass(frozen=True)
class ConversationSummary:
    """A saved conversation as the list of conversations shows it."""

    id: int
    title: str
    created: float
    updated: float


def title_for(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
