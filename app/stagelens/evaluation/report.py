"""What `stagelens eval` reports: per method accuracy with a bootstrap interval and a paired
comparison against a baseline method; accuracy per question kind; per stage, how often the kept
stage equals the dataset's reference text (where the dataset gives one).

Stage texts are compared after collapsing whitespace; nothing else is normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stagelens.evaluation.dataset import REFERENCE_STAGES, EvalItem
from stagelens.evaluation.evaluate import MethodRun, chosen_stage_texts
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

    def to_json(self) -> dict[str, object]:
        return {"baseline": self.baseline, "level": self.level, "methods": [m.to_json() for m in self.methods]}


def choose_baseline(names: Sequence[str]) -> str:
    """``greedy`` when it was run, else the first method."""
    return "greedy" if "greedy" in names else names[0]


def _normalised(text: str) -> str:
    return " ".join(text.split())


def build_report(
    items: Sequence[EvalItem],
    runs: Sequence[MethodRun],
    baseline: str | None = None,
    bootstrap_seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> EvalReport:
    names = [run.method.name for run in runs]
    baseline = baseline or choose_baseline(names)
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} was not run")
    base_correct = [r.correct for r in runs[names.index(baseline)].results]
    kinds = sorted({item.kind for item in items if item.kind})
    reports = []
    for run in runs:
        results = run.results
        n = len(results)
        correct = [r.correct for r in results]
        report = MethodReport(
            method=run.method.name,
            n_items=n,
            accuracy=bootstrap_interval(correct, resamples, bootstrap_seed=bootstrap_seed),
            format_rate=sum(r.follows_format for r in results) / n,
            mean_tokens=sum(r.decode_tokens for r in results) / n,
            mean_seconds=sum(r.seconds for r in results) / n,
        )
        if run.method.name != baseline:
            report.versus_baseline = paired_comparison(correct, base_correct, resamples, bootstrap_seed=bootstrap_seed)
        for kind in kinds:
            mine = [r.correct for r, item in zip(results, items, strict=True) if item.kind == kind]
            report.by_kind[kind] = (len(mine), sum(mine) / len(mine))
        for stage in REFERENCE_STAGES:
            checked = [
                _normalised(chosen_stage_texts(r).get(stage, "")) == _normalised(item.stages[stage])
                for r, item in zip(results, items, strict=True)
                if stage in item.stages
            ]
            if checked:
                report.by_stage[stage] = (len(checked), sum(checked) / len(checked))
        reports.append(report)
    return EvalReport(baseline, reports)


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
    return "\n".join(lines)
