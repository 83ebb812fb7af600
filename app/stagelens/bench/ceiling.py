"""The hardware's ceiling, measured in the same run as the bench rows: raw llama_decode on the
engine's own context (same model, threads, batch size, flash attention, KV settings) at every
batch width the rows used, and the bound each row implies.

A row's bound is what it would take if it did nothing but llama.cpp's own work: its measured time
reading the prompt, images and stage tags, plus each of its candidate decode steps at the ceiling's
time for that many sequences, plus its judge prompts' tokens at the ceiling's prefill rate.
Efficiency = bound / wall.

A decode step costs more the more KV cells it attends to (at 4 sequences, 20-30 % more at 800
cells than at 480 on the bench preset), and a search attends to more than its prompt: the stages
it kept and every candidate's own cells. So the ceiling times each width twice, after the prompt
and after a deeper prefix (as deep as the rows went), and a step's ceiling time is read off the
line through the two at the cells the row's steps of that width attended to on average.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

CEILING_STEPS = 16  # decode steps timed per width
DEEP_MIN_EXTRA = 64  # the deep timing's prefix is at least this many cells past the prompt


class DecodesRaw(Protocol):
    def decode_ceiling(self, prefix: int, steps: int, widths: Sequence[int]) -> tuple[float, list[list[float]]]: ...


@dataclass(frozen=True)
class Ceiling:
    prefix: int  # tokens in the shared prefix (the greedy row's prompt)
    steps: int  # decode steps timed per width
    prefill_tok_s: float  # reading the prefix, tokens per second
    step_s: dict[int, float] = field(default_factory=dict)  # width -> seconds per decode step
    deep_prefix: int = 0  # the deeper prefix the widths were timed after too (0: not timed)
    deep_step_s: dict[int, float] = field(default_factory=dict)  # width -> seconds per step after it

    def tokens_per_s(self, width: int) -> float:
        return width / self.step_s[width]

    def mean_cells(self, prefix: int, width: int) -> float:
        """The cells a timed step attends to on average: the prefix and each sequence's steps so far."""
        return prefix + width * (self.steps + 1) / 2

    def step_at(self, width: int, cells: float) -> float:
        """Seconds per step of `width` sequences attending to `cells` cells: on the line through the
        two timings, never below the shallow one; the shallow timing alone when no deep one was made."""
        shallow = self.step_s[width]
        if not self.deep_prefix or cells <= 0:
            return shallow
        c0, c1 = self.mean_cells(self.prefix, width), self.mean_cells(self.deep_prefix, width)
        slope = (self.deep_step_s[width] - shallow) / (c1 - c0)
        return max(shallow, shallow + slope * (cells - c0))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "prefix": self.prefix,
            "steps": self.steps,
            "prefill_tok_s": self.prefill_tok_s,
            "step_s": {str(w): s for w, s in sorted(self.step_s.items())},
            "tokens_per_s": {str(w): round(self.tokens_per_s(w), 1) for w in sorted(self.step_s)},
        }
        if self.deep_prefix:
            data["deep_prefix"] = self.deep_prefix
            data["deep_step_s"] = {str(w): s for w, s in sorted(self.deep_step_s.items())}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ceiling:
        steps = {int(w): float(s) for w, s in data["step_s"].items()}
        deep = {int(w): float(s) for w, s in data.get("deep_step_s", {}).items()}
        return cls(
            int(data["prefix"]),
            int(data["steps"]),
            float(data["prefill_tok_s"]),
            steps,
            int(data.get("deep_prefix", 0)),
            deep,
        )


def widths_used(steps_by_width: Iterable[Sequence[int]]) -> list[int]:
    """Every batch width some row decoded at, and 1 (the greedy rate)."""
    used = {1}
    for steps in steps_by_width:
        used.update(w for w, n in enumerate(steps) if w > 0 and n > 0)
    return sorted(used)


def deep_prefix_for(prefix: int, cells_by_width: Iterable[Sequence[float]], widths: Sequence[int], n_ctx: int) -> int:
    """A prefix as deep as the deepest mean the rows' steps attended to (at least `DEEP_MIN_EXTRA` past
    the prompt), shallow enough for the widest timing to fit the context; 0 when nothing fits."""
    deepest = max((c for cells in cells_by_width for c in cells), default=0.0)
    deep = max(int(deepest), prefix + DEEP_MIN_EXTRA)
    deep = min(deep, n_ctx - max(widths) * CEILING_STEPS)
    return deep if deep >= prefix + DEEP_MIN_EXTRA else 0


def _timed(
    engine: DecodesRaw, prefix: int, steps: int, widths: Sequence[int], repeat: int
) -> tuple[float, dict[int, float]]:
    """The prefill's and each width's step time: every step is timed alone and a width's time is the
    median step (a neighbour's burst on a shared host moves a mean of 16 steps, not their median),
    then the median over `repeat` measurements."""
    runs = [engine.decode_ceiling(prefix, steps, widths) for _ in range(max(1, repeat))]
    prefill_s = statistics.median(r[0] for r in runs)
    step_s = {w: round(statistics.median(statistics.median(r[1][i]) for r in runs), 6) for i, w in enumerate(widths)}
    return prefill_s, step_s


def measure_ceiling(
    engine: DecodesRaw,
    prefix: int,
    widths: Sequence[int],
    repeat: int,
    steps: int = CEILING_STEPS,
    deep_prefix: int = 0,
) -> Ceiling:
    """Median over `repeat` measurements of each width's step time (after `prefix`, and after
    `deep_prefix` when given) and of the prefill."""
    prefill_s, step_s = _timed(engine, prefix, steps, widths, repeat)
    deep_step_s = _timed(engine, deep_prefix, steps, widths, repeat)[1] if deep_prefix else {}
    return Ceiling(prefix, steps, round(prefix / prefill_s, 1), step_s, deep_prefix, deep_step_s)


def median_ceiling(ceilings: Sequence[Ceiling]) -> Ceiling:
    """The medians of ceilings measured once per repeat (each beside that repeat's rows)."""
    first = ceilings[0]
    prefill = statistics.median(c.prefill_tok_s for c in ceilings)
    step_s = {w: round(statistics.median(c.step_s[w] for c in ceilings), 6) for w in first.step_s}
    deep = {w: round(statistics.median(c.deep_step_s[w] for c in ceilings), 6) for w in first.deep_step_s}
    deep_prefix = round(statistics.median(c.deep_prefix for c in ceilings)) if deep else 0
    return Ceiling(first.prefix, first.steps, round(prefill, 1), step_s, deep_prefix, deep)


def bound_s(
    ceiling: Ceiling,
    prefill_s: float,
    steps_by_width: Sequence[int],
    judge_tokens: int,
    cells_by_width: Sequence[float] = (),
) -> float:
    """Seconds a row would take doing only llama.cpp's work (see the module's docstring)."""
    decode = 0.0
    for w, n in enumerate(steps_by_width):
        if n:
            cells = cells_by_width[w] if w < len(cells_by_width) else 0.0
            decode += n * ceiling.step_at(w, cells)
    return prefill_s + decode + judge_tokens / ceiling.prefill_tok_s


def first_text_bound_s(ceiling: Ceiling, first_prefill_s: float, beam: int) -> float:
    """The first streamed text can come no sooner than the prompt read before it plus one decode step."""
    return first_prefill_s + ceiling.step_s[beam]
