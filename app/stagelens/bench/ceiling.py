"""The hardware's ceiling, measured in the same run as the bench rows: raw llama_decode on the
engine's own context (same model, threads, batch size, flash attention, KV settings) at every
batch width the rows used, and the bound each row implies.

A row's bound is what it would take if it did nothing but llama.cpp's own work: its measured time
reading the prompt, images and stage tags, plus each of its candidate decode steps at the ceiling's
time for that many sequences, plus its judge prompts' tokens at the ceiling's prefill rate.
Efficiency = bound / wall.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

CEILING_STEPS = 16  # decode steps timed per width


class DecodesRaw(Protocol):
    def decode_ceiling(self, prefix: int, steps: int, widths: Sequence[int]) -> tuple[float, list[float]]: ...


@dataclass(frozen=True)
class Ceiling:
    prefix: int  # tokens in the shared prefix (the greedy row's prompt)
    steps: int  # decode steps timed per width
    prefill_tok_s: float  # reading the prefix, tokens per second
    step_s: dict[int, float] = field(default_factory=dict)  # width -> seconds per decode step

    def tokens_per_s(self, width: int) -> float:
        return width / self.step_s[width]

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "steps": self.steps,
            "prefill_tok_s": self.prefill_tok_s,
            "step_s": {str(w): s for w, s in sorted(self.step_s.items())},
            "tokens_per_s": {str(w): round(self.tokens_per_s(w), 1) for w in sorted(self.step_s)},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ceiling:
        steps = {int(w): float(s) for w, s in data["step_s"].items()}
        return cls(int(data["prefix"]), int(data["steps"]), float(data["prefill_tok_s"]), steps)


def widths_used(steps_by_width: Iterable[Sequence[int]]) -> list[int]:
    """Every batch width some row decoded at, and 1 (the greedy rate)."""
    used = {1}
    for steps in steps_by_width:
        used.update(w for w, n in enumerate(steps) if w > 0 and n > 0)
    return sorted(used)


def measure_ceiling(
    engine: DecodesRaw, prefix: int, widths: Sequence[int], repeat: int, steps: int = CEILING_STEPS
) -> Ceiling:
    """Median over `repeat` measurements of each width's step time and of the prefill."""
    runs = [engine.decode_ceiling(prefix, steps, widths) for _ in range(max(1, repeat))]
    prefill_s = statistics.median(r[0] for r in runs)
    step_s = {w: statistics.median(r[1][i] for r in runs) for i, w in enumerate(widths)}
    return Ceiling(prefix, steps, round(prefix / prefill_s, 1), {w: round(s, 6) for w, s in step_s.items()})


def median_ceiling(ceilings: Sequence[Ceiling]) -> Ceiling:
    """The medians of ceilings measured once per repeat (each beside that repeat's rows)."""
    first = ceilings[0]
    prefill = statistics.median(c.prefill_tok_s for c in ceilings)
    step_s = {w: round(statistics.median(c.step_s[w] for c in ceilings), 6) for w in first.step_s}
    return Ceiling(first.prefix, first.steps, round(prefill, 1), step_s)


def bound_s(ceiling: Ceiling, prefill_s: float, steps_by_width: Sequence[int], judge_tokens: int) -> float:
    """Seconds a row would take doing only llama.cpp's work (see the module's docstring)."""
    decode = sum(n * ceiling.step_s[w] for w, n in enumerate(steps_by_width) if n)
    return prefill_s + decode + judge_tokens / ceiling.prefill_tok_s


def first_text_bound_s(ceiling: Ceiling, first_prefill_s: float, beam: int) -> float:
    """The first streamed text can come no sooner than the prompt read before it plus one decode step."""
    return first_prefill_s + ceiling.step_s[beam]
