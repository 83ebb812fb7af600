"""What the window holds for the open conversation: turns, their answer versions, and
the live state of an answer being produced."""

from __future__ import annotations

from dataclasses import dataclass, field

from stagelens.engine import Trace
from stagelens.ui.images_input import PendingImage


@dataclass
class AnswerVersion:
    trace: Trace | None = None
    error: str | None = None
    live: bool = False
    stage: str = "summary"  # stage being produced (live)
    texts: dict[tuple[str, int], str] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)  # stage -> winner's text (live)

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
    def stopped(self) -> bool:
        return self.trace is not None and self.trace.cancelled

    @property
    def conclusion(self) -> str:
        if self.trace is not None:
            return self.trace.conclusion
        return self.live_text("conclusion").strip()


@dataclass
class TurnState:
    question: str
    images: list[PendingImage]
    versions: list[AnswerVersion] = field(default_factory=list)
    selected: int = 0
    turn_id: int | None = None  # row in the history store, once saved

    @property
    def answer(self) -> AnswerVersion | None:
        return self.versions[self.selected] if self.versions else None

    def usable_for_history(self) -> bool:
        """Finished, not stopped, not failed: safe to give the model as an earlier turn."""
        answer = self.answer
        return answer is not None and answer.trace is not None and not answer.trace.cancelled and not answer.live
