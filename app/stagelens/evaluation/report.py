"""What `stagelens eval` reports: per method accuracy with a bootstrap interval and a paired
comparison against a baseline method; accuracy per question kind; per stage, how often the kept
stage equals the dataset's reference text (where the dataset gives one).

Stage texts are compared after collapsing whitespace; nothing else is normalised (results.outcome_of).
Methods are compared on the items every one of them has (a note says how many were left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stagelens.evaluation.dataset import REFERENCE_STAGES, EvalItem
from stagelens.evaluation.evaluate import MethodRun
from stagelens.evaluation.results import Outcome, outcome_of
from stagelens.evaluation.statistics import (
    DEFAULT_RESAMPLES,
    Interval,
    PairedComparison,
    bootstrap_interval,
    paired_comparison,
)


@dataclass
class MethodReport:
    method: str
    n_items: int
    accuracy: Interval
    format_rate: float
    mean_tokens: float
    mean_seconds: float
    versus_baseline: PairedComparison | None = None
    mean_verifier_tokens: float = 0.0  # read by a verifier model, apart from the answering model's tokens
    by_kind: dict[str, tuple[int, float]] = field(default_factory=dict)  # kind: (items, accuracy)
    by_stage: dict[str, tuple[int, float]] = field(default_factory=dict)  # stage: (items with a reference, rate)

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "items": self.n_items,
            "accuracy": round(self.accuracy.estimate, 4),
            "accuracy_interval": [round(self.accuracy.low, 4), round(self.accuracy.high, 4)],
            "format_rate": round(self.format_rate, 4),
            "mean_tokens": round(self.mean_tokens, 1),
            "mean_verifier_tokens": round(self.mean_verifier_tokens, 1),
            "mean_seconds": round(self.mean_seconds, 3),
            "versus_baseline": self.versus_baseline.to_json() if self.versus_baseline else None,
            "by_kind": {k: {"items": n, "accuracy": round(a, 4)} for k, (n, a) in self.by_kind.items()},
            "stage_matches_reference": {s: {"items": n, "rate": round(r, 4)} for s, (n, r) in self.by_stage.items()},
        }


@dataclass
class EvalReport:
    baseline: str
    methods: list[MethodReport]
    level: float = 0.95
    notes: list[str] = field(default_factory=list)  # what a reader should know (items left out)

    def to_json(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "level": self.level,
            "methods": [m.to_json() for m in self.methods],
            "notes": self.notes,
        }


def choose_baseline(names: Sequence[str]) -> str:
    """``greedy`` when it was run, else the first method."""
    return "greedy" if "greedy" in names else names[0]


def build_report(
    items: Sequence[EvalItem],
    runs: Sequence[MethodRun],
    baseline: str | None = None,
    bootstrap_seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> EvalReport:
    """The report of methods run in this process (``evaluate``'s results)."""
    outcomes = [outcome_of(run.method, items[r.index], r) for run in runs for r in run.results]
    return summarize(outcomes, [run.method.name for run in runs], baseline, bootstrap_seed, resamples)


def by_method(outcomes: Iterable[Outcome], names: Sequence[str]) -> tuple[dict[str, list[Outcome]], list[str]]:
    """Each method's outcomes on the items every method has, in item order; and notes on what was left out."""
    grouped: dict[str, dict[int, Outcome]] = {name: {} for name in names}
    for o in outcomes:
        if o.method in grouped:
            grouped[o.method][o.index] = o
    common = set.intersection(*(set(g) for g in grouped.values())) if grouped else set()
    notes = [
        f"{name}: {len(g) - len(common)} items left out (not every method has them)"
        for name, g in grouped.items()
        if len(g) > len(common)
    ]
    return {name: [g[i] for i in sorted(common)] for name, g in grouped.items()}, notes


def summarize(
    outcomes: Iterable[Outcome],
    names: Sequence[str],
    baseline: str | None = None,
    bootstrap_seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> EvalReport:
    """The report of methods `names` from their outcomes (this run's, or a results file's)."""
    if not names:
        raise ValueError("no methods to report")
    baseline = baseline or choose_baseline(names)
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} was not run")
    grouped, notes = by_method(outcomes, names)
    if not grouped[baseline]:
        raise ValueError("no item has results of every method")
    base_correct = [o.correct for o in grouped[baseline]]
    kinds = sorted({o.kind for o in grouped[baseline] if o.kind})
    reports = []
    for name in names:
        results = grouped[name]
        n = len(results)
        correct = [r.correct for r in results]
        report = MethodReport(
            method=name,
            n_items=n,
            accuracy=bootstrap_interval(correct, resamples, bootstrap_seed=bootstrap_seed),
            format_rate=sum(r.follows_format for r in results) / n,
            mean_tokens=sum(r.decode_tokens for r in results) / n,
            mean_seconds=sum(r.seconds for r in results) / n,
            mean_verifier_tokens=sum(r.verifier_tokens for r in results) / n,
        )
        if name != baseline:
            report.versus_baseline = paired_comparison(correct, base_correct, resamples, bootstrap_seed=bootstrap_seed)
        for kind in kinds:
            mine = [r.correct for r in results if r.kind == kind]
            report.by_kind[kind] = (len(mine), sum(mine) / len(mine))
        for stage in REFERENCE_STAGES:
            checked = [r.stage_matches[stage] for r in results if stage in r.stage_matches]
            if checked:
                report.by_stage[stage] = (len(checked), sum(checked) / len(checked))
        reports.append(report)
    return EvalReport(baseline, reports, notes=notes)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def format_report(report: EvalReport) -> str:
    """Plain-text tables: methods, then per kind and per stage when the dataset has them."""
    width = max(18, *(len(m.method) for m in report.methods))
    lines = [
        f"{'method':<{width}} {'accuracy':>8} {'95% interval':>13} {'vs ' + report.baseline:>24} "
        f"{'+/-':>9} {'McNemar p':>9} {'format':>7} {'tokens/q':>9} {'s/q':>7}"
    ]
    for m in report.methods:
        a = m.accuracy
        if m.versus_baseline is None:
            diff, counts, p = "(baseline)", "", ""
        else:
            d = m.versus_baseline.difference
            diff = f"{100 * d.estimate:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
            counts = f"{m.versus_baseline.method_only}/{m.versus_baseline.baseline_only}"
            p = f"{m.versus_baseline.mcnemar_p:.3g}"
        lines.append(
            f"{m.method:<{width}} {_pct(a.estimate):>7}% {'[' + _pct(a.low) + ', ' + _pct(a.high) + ']':>13} "
            f"{diff:>24} {counts:>9} {p:>9} {_pct(m.format_rate):>6}% {m.mean_tokens:>9.1f} {m.mean_seconds:>7.3f}"
        )
    verified = [m for m in report.methods if m.mean_verifier_tokens]
    for m in verified:
        lines.append(f"{m.method}: the verifier read {m.mean_verifier_tokens:.1f} tokens per question besides tokens/q")
    lines.append(
        f"(+/-: items right only with the method / only with {report.baseline}; intervals: percentile bootstrap)"
    )
    kinds = list(report.methods[0].by_kind)
    if kinds:
        lines += [
            "",
            "accuracy (%) by question kind (items per kind: "
            + ", ".join(f"{k} {report.methods[0].by_kind[k][0]}" for k in kinds)
            + ")",
        ]
        lines.append(f"{'method':<{width}} " + " ".join(f"{k:>{max(6, len(k))}}" for k in kinds))
        for m in report.methods:
            lines.append(
                f"{m.method:<{width}} " + " ".join(f"{_pct(m.by_kind[k][1]):>{max(6, len(k))}}" for k in kinds)
            )
    stages = list(report.methods[0].by_stage)
    if stages:
        lines += ["", "kept stage equal to the reference (%)"]
        lines.append(f"{'method':<{width}} " + " ".join(f"{s:>10}" for s in stages))
        for m in report.methods:
            lines.append(f"{m.method:<{width}} " + " ".join(f"{_pct(m.by_stage[s][1]):>10}" for s in stages))
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
