"""What the stage machine saw, in words: each stage's status and note, and why a conclusion is empty.

The native search already decided what the answer holds (a stage cut at another stage's tag, a loop
cut after its first round, a closing tag written for the model); this says so, so that no stage and
no empty conclusion is left unexplained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stagelens.engine.stage_text import STAGE_TAGS, headings
from stagelens.engine.trace import Candidate, Stage


@dataclass(frozen=True)
class StageVerdict:
    status: str
    note: str


def _title(name: str) -> str:
    return name.title()


def verdict(stage: Stage, budget: int, cancelled: bool) -> StageVerdict:
    """The status and note of a stage from its winner (or its first candidate when it has none)."""
    cand: Candidate | None = next((c for c in stage.candidates if c.selected), None)
    if cand is None:
        cand = stage.candidates[0] if stage.candidates else None
    title = _title(stage.name)
    if cand is None or cand.closed_by == "cancel" or (cancelled and not stage.complete):
        return StageVerdict("cancelled", f"Stopped before {title} was finished.")
    notes = []
    if cand.closed_by == "tag":
        status = "ok"
    elif cand.closed_by == "budget":
        status = "cut"
        notes.append(f"The model did not close {title} within its {budget}-token budget; the stage was cut there.")
    elif cand.closed_by == "eos":
        status = "ended"
        if stage.text:
            notes.append(f"The model ended its answer inside {title} without closing it.")
        else:
            notes.append(f"The model ended its answer before writing anything in {title}.")
    elif cand.closed_by == "loop":
        status = "looped"
        notes.append(f"The model kept repeating itself in {title}; the repeats were dropped.")
    elif cand.closed_by == "stop":
        stop = cand.stop or "another stage's tag"
        if stop == STAGE_TAGS[stage.name][0] or stop in headings(stage.name):
            status = "restarted"
            notes.append(f"The model started {title} again ({stop}); the stage ends before the repeat.")
        else:
            status = "jumped"
            notes.append(f"The model went on to {stop} inside {title}; the stage ends there.")
    else:
        status = "ok"
    if cand.opened_by_alias:
        notes.append(f"It wrote a Markdown heading instead of the {STAGE_TAGS[stage.name][0]} tag.")
    elif cand.open_repeats and stage.forced_open:
        notes.append(f"It wrote the {STAGE_TAGS[stage.name][0]} tag again; the repeat was dropped.")
    return StageVerdict(status, " ".join(notes))


def conclusion_note(stages: Sequence[Stage], cancelled: bool) -> str:
    """Why the conclusion is empty (for the window and the command line); "" when it is not."""
    conclusion = next((s for s in stages if s.name == "conclusion"), None)
    if conclusion is not None and conclusion.text:
        return ""
    with_text = [_title(s.name) for s in stages if s.text and s.name != "conclusion"]
    elsewhere = f" Its other stages hold text: {', '.join(with_text)}." if with_text else ""
    if conclusion is None or conclusion.status == "cancelled":
        return "The answer was stopped before its conclusion." + elsewhere
    if conclusion.status == "ended":
        if not with_text:
            return "The model ended its answer without writing anything."
        return "The model ended its answer without writing a conclusion." + elsewhere
    if conclusion.status in ("jumped", "restarted"):
        stop = next((c.stop for c in conclusion.candidates if c.selected), None) or "another stage's tag"
        return f"The model wrote {stop} where the conclusion should be." + elsewhere
    if conclusion.status == "looped":
        return "The model only repeated itself in the conclusion." + elsewhere
    return "The model wrote an empty conclusion." + elsewhere
