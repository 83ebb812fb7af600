"""The conversation as the model sees it: turns, each with its question, its images and the
versions of its answer. These are the only types for these concepts: the session changes them,
the window shows them, the history stores and returns them.

A conversation is a tree: editing a question and asking again makes a new branch from that point
(a sibling of the edited turn, with the same parent), and the old branch stays. `turns` is the
branch shown, first to last; each turn's `chosen` child (and the conversation's `chosen_root`)
says which branch continues at each point."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from stagelens.engine import Trace
from stagelens.images import ChatImage

NEW_TITLE = "New chat"
TITLE_CHARS = 60
STAGE_TITLES = {"summary": "Summary", "caption": "Caption", "reasoning": "Reasoning", "conclusion": "Conclusion"}


@dataclass(frozen=True)
class Reading:
    """What the model reads before it writes: the new part of the conversation."""

    images: int
    image_tokens: int
    text_tokens: int
    at: float  # time.monotonic() when it began


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
    # progress while live (time.monotonic() seconds; never stored)
    reading: Reading | None = None  # what the model is reading before its first word
    started_at: float = field(default_factory=time.monotonic)
    stage_started_at: float = 0.0  # the current stage began (0: no stage yet)
    thinking_started_at: float = 0.0  # the first stage began
    thinking_ended_at: float = 0.0  # the last stage that ended so far ended
    retraces: int = 0  # times the search went back a stage so far (retracing)

    def on_event(
        self,
        kind: str,
        stage: str,
        candidate: int,
        text: str,
        image_tokens: int = 0,
        text_tokens: int = 0,
        at: float | None = None,
    ) -> None:
        """`at`: time.monotonic() when it happened (default: now)."""
        at = time.monotonic() if at is None else at
        if kind == "reading":
            self.reading = Reading(candidate, image_tokens, text_tokens, at)
        elif kind == "stage_begin":
            self.stage = stage
            self.stage_started_at = at
            self.thinking_started_at = self.thinking_started_at or at
        elif kind == "text":
            key = (stage, candidate)
            self.texts[key] = self.texts.get(key, "") + text
        elif kind == "stage_end":
            winner = candidate if (stage, candidate) in self.texts else 0
            self.finished[stage] = self.texts.get((stage, winner), "")
            self.thinking_ended_at = at
        elif kind == "retrace":  # `stage` is sampled again: its text and the later stages' so far are dropped
            order = list(STAGE_TITLES)
            dropped = set(order[order.index(stage) :]) if stage in order else {stage}
            self.texts = {key: text for key, text in self.texts.items() if key[0] not in dropped}
            for name in dropped:
                self.finished.pop(name, None)
            self.retraces += 1

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
    parent: Turn | None = field(default=None, repr=False)  # the turn before it in its branch (None: the first)
    children: list[Turn] = field(default_factory=list, repr=False)  # the turns after it, one per branch
    chosen: int = 0  # which child continues the branch shown

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
    turns: list[Turn] = field(default_factory=list)  # the branch shown; a list given here is one branch
    deleted: bool = False  # deleted while an answer for it was running: nothing more is saved
    roots: list[Turn] = field(default_factory=list, repr=False)  # the first turns, one per branch
    chosen_root: int = 0

    def __post_init__(self) -> None:
        if self.roots:
            self.show()
        elif self.turns:  # one branch: link it
            linear, self.turns = list(self.turns), []
            for turn in linear:
                self.append(turn)

    def append(self, turn: Turn) -> None:
        """`turn` after the last turn shown."""
        last = self.turns[-1] if self.turns else None
        self._add(turn, last)

    def branch(self, at: Turn, turn: Turn) -> None:
        """`turn` in place of `at` (and everything after it) in the branch shown; `at`'s branch stays."""
        self._add(turn, at.parent)

    def siblings(self, turn: Turn) -> list[Turn]:
        """`turn` and the turns that replace it in the other branches."""
        return turn.parent.children if turn.parent is not None else self.roots

    def branch_index(self, turn: Turn) -> int:
        return next(i for i, t in enumerate(self.siblings(turn)) if t is turn)

    def choose(self, turn: Turn, index: int) -> None:
        """Show the branch of `turn`'s `index`-th sibling from there on."""
        siblings = self.siblings(turn)
        if not 0 <= index < len(siblings):
            raise IndexError(f"there are {len(siblings)} branches here, not {index + 1}")
        if turn.parent is not None:
            turn.parent.chosen = index
        else:
            self.chosen_root = index
        self.show()

    def show(self) -> None:
        """Make `turns` the branch the choices say (the same list object, changed in place)."""
        path: list[Turn] = []
        level, index = self.roots, self.chosen_root
        while level:
            turn = level[min(max(index, 0), len(level) - 1)]
            path.append(turn)
            level, index = turn.children, turn.chosen
        self.turns[:] = path

    def every_turn(self) -> list[Turn]:
        """Every turn of every branch, each after its parent."""
        found: list[Turn] = []
        level = list(self.roots)
        while level:
            found += level
            level = [child for turn in level for child in turn.children]
        return found

    def _add(self, turn: Turn, parent: Turn | None) -> None:
        turn.parent = parent
        siblings = parent.children if parent is not None else self.roots
        siblings.append(turn)
        if parent is not None:
            parent.chosen = len(siblings) - 1
        else:
            self.chosen_root = len(siblings) - 1
        self.show()


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
