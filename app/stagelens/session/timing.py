"""How long answers take to think on each model, and the estimate each preset shows: its
thinking time relative to Fast on the current model.

Thinking time is the time from the first stage's start to the last stage's end, on the engine's
clock (the times its events carry, so a busy window does not change them); reading the image is
left out (it costs the same whatever the preset). It is kept per decode step — per token of the
longest candidate of each stage, which is how long a batched stage runs — so an answer that happens
to be long does not look like a slow preset. An answer counts only when it finished.

The estimate for a search (beam, scorer) on a model, in this order:
1. measured: the median thinking time per step of its own answers divided by the median of
   Fast's answers, when both have been measured on this model;
2. calibrated: the prior (settings.relative_cost) with its extra cost scaled by how far the
   searches measured so far were from their own priors:
   c = mean over measured searches s of (ratio_s - 1) / (prior_s - 1), estimate = 1 + c (prior - 1);
3. prior: settings.relative_cost alone, until Fast and one other search have been measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stagelens.settings import AppSettings, SearchSettings, relative_cost, search_choice

if TYPE_CHECKING:
    from stagelens.engine import Trace
    from stagelens.session.conversation import Answer

KEEP = 8  # the latest answers kept per model and search


@dataclass(frozen=True)
class SearchKey:
    """What decides an answer's cost: the beam, and with more than one candidate, the scorer."""

    beam: int
    scorer: str

    @classmethod
    def of(cls, beam: int, scorer: str) -> SearchKey:
        return cls(beam, scorer if beam > 1 else "")


FAST_KEY = SearchKey.of(1, "")


@dataclass(frozen=True)
class Estimate:
    ratio: float  # thinking time relative to Fast
    source: str  # "measured" | "calibrated" | "prior"
    answers: int  # answers of this search measured on this model

    def describe(self) -> str:
        if self.source == "measured" and abs(self.ratio - 1.0) < 0.05:
            return "1×"
        times = f"{self.ratio:.1f}×" if self.ratio < 10 else f"{self.ratio:.0f}×"
        return times if self.source == "measured" else f"~{times}"

    def explain(self) -> str:
        what = {
            "measured": f"measured on this model ({self.answers} answer{'s' if self.answers != 1 else ''})",
            "calibrated": "estimated from the answers measured on this model so far",
            "prior": "a first estimate; it is measured as you ask",
        }[self.source]
        return f"thinking time about {self.ratio:.1f}× that of Fast: {what}"


@dataclass
class ThinkingTimes:
    _times: dict[tuple[str, SearchKey], list[float]] = field(default_factory=dict)

    def add(self, model: str, key: SearchKey, seconds: float, steps: int = 1) -> None:
        """An answer that thought for `seconds` over `steps` decode steps."""
        if seconds <= 0 or steps <= 0:
            return
        times = self._times.setdefault((model, key), [])
        times.append(seconds / steps)
        del times[:-KEEP]

    def add_answer(self, model: str, search: SearchSettings, answer: Answer, trace: Trace) -> None:
        """A finished answer's thinking, on the engine's clock (its events' own times), per decode step."""
        if answer.thinking_started_at and answer.thinking_ended_at and not trace.cancelled:
            steps = sum(max((c.n_tokens for c in s.candidates), default=0) for s in trace.stages)
            seconds = answer.thinking_ended_at - answer.thinking_started_at
            scorer = "logprob" if search.best_of > 1 else search.scorer  # best-of-N decodes as beam N does
            self.add(model, SearchKey.of(search.width, scorer), seconds, steps)

    def estimate_preset(self, model: str, settings: AppSettings, preset: str | None = None) -> Estimate:
        """Preset `preset`'s (default: the settings') thinking time relative to Fast on `model`."""
        choice = search_choice(settings, preset)
        if choice.best_of > 1:  # best-of-N decodes as stage-beam N with the log-probability does
            return self.estimate(model, SearchKey.of(choice.best_of, "logprob"))
        return self.estimate(model, SearchKey.of(choice.beam, choice.scorer))

    def answers(self, model: str, key: SearchKey) -> int:
        return len(self._times.get((model, key), ()))

    def median(self, model: str, key: SearchKey) -> float | None:
        """Seconds per decode step."""
        times = self._times.get((model, key))
        return statistics.median(times) if times else None

    def estimate(self, model: str, key: SearchKey) -> Estimate:
        n = self.answers(model, key)
        fast = self.median(model, FAST_KEY)
        if key == FAST_KEY:
            return Estimate(1.0, "measured" if fast is not None else "prior", n)
        prior = relative_cost(key.beam, key.scorer)
        own = self.median(model, key)
        if own is not None and fast is not None:
            return Estimate(own / fast, "measured", n)
        factors = [
            (median / fast - 1.0) / (relative_cost(k.beam, k.scorer) - 1.0)
            for (m, k), times in self._times.items()
            if m == model
            and k != FAST_KEY
            and fast is not None
            and (median := statistics.median(times))
            and relative_cost(k.beam, k.scorer) > 1.0
        ]
        if factors:
            scale = max(0.0, statistics.fmean(factors))
            return Estimate(1.0 + scale * (prior - 1.0), "calibrated", n)
        return Estimate(prior, "prior", n)
