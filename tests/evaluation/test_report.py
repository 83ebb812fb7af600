"""The eval report: intervals, paired comparisons, per-kind and per-stage tables from known results."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagelens.engine.trace import Candidate, ModelInfo, Stage, Stats, Trace
from stagelens.evaluation.dataset import EvalItem
from stagelens.evaluation.evaluate import ItemResult, Method, MethodRun
from stagelens.evaluation.report import build_report, choose_baseline, format_report


def _trace(caption: str) -> Trace:
    stages = [
        Stage("summary", "s", [Candidate("s", 1, -0.1, None, True, 0.0)]),
        Stage("caption", caption, [Candidate(caption, 3, -0.2, None, True, 0.0)]),
        Stage("reasoning", "r", [Candidate("r", 2, -0.1, None, True, 0.0)]),
        Stage("conclusion", "c", [Candidate("c", 1, -0.1, None, True, 0.0)]),
    ]
    return Trace("q", [], {}, stages, "c", False, Stats(), ModelInfo("m", None, 0, "CPU"))


def _run(name: str, correct: list[bool], captions: list[str]) -> MethodRun:
    method = Method("greedy") if name == "greedy" else Method("beam", int(name.split(":")[1]), name.split(":")[2])
    rows = enumerate(zip(correct, captions, strict=True))
    results = [ItemResult(i, "c", ok, True, 10 + i, 0.5, traces=[_trace(cap)]) for i, (ok, cap) in rows]
    return MethodRun(method, results)


ITEMS = [
    EvalItem(Path("x.png"), "q", "c", kind=kind, stages={"caption": "right caption"})
    for kind in ("count", "count", "color", "color", "color")
]


def test_report_numbers_are_the_results() -> None:
    greedy = _run("greedy", [True, False, False, True, False], ["right caption"] * 2 + ["wrong"] * 3)
    beam = _run("beam:4:judge", [True, True, True, True, False], ["right  caption"] * 4 + ["wrong"])
    report = build_report(ITEMS, [greedy, beam], resamples=500)
    assert report.baseline == "greedy"
    g, b = report.methods
    assert g.accuracy.estimate == pytest.approx(0.4) and b.accuracy.estimate == pytest.approx(0.8)
    assert g.versus_baseline is None
    assert b.versus_baseline is not None
    assert (b.versus_baseline.method_only, b.versus_baseline.baseline_only) == (2, 0)
    assert b.versus_baseline.difference.estimate == pytest.approx(0.4)
    assert b.versus_baseline.mcnemar_p == pytest.approx(0.5)  # 2 vs 0: 2 * (1/2)^2
    assert g.by_kind == {"color": (3, pytest.approx(1 / 3)), "count": (2, 0.5)}
    assert b.by_kind == {"color": (3, pytest.approx(2 / 3)), "count": (2, 1.0)}
    assert g.by_stage == {"caption": (5, pytest.approx(0.4))}
    assert b.by_stage == {"caption": (5, pytest.approx(0.8))}  # whitespace is collapsed before comparing
    assert g.mean_tokens == pytest.approx(12.0)
    text = format_report(report)
    assert "vs greedy" in text and "by question kind" in text and "+40.0" in text and "2/0" in text
    json_rows = report.to_json()["methods"]
    assert json_rows[1]["versus_baseline"]["method_only"] == 2


def test_baseline_is_greedy_when_run_else_the_first_method() -> None:
    assert choose_baseline(["beam:2:logprob", "greedy"]) == "greedy"
    assert choose_baseline(["beam:2:logprob", "bestofn:2"]) == "beam:2:logprob"
    beam = _run("beam:2:logprob", [True] * 5, ["x"] * 5)
    report = build_report([EvalItem(Path("x.png"), "q", "c")] * 5, [beam], resamples=100)
    assert report.baseline == "beam:2:logprob" and report.methods[0].by_kind == {} and report.methods[0].by_stage == {}
    with pytest.raises(ValueError, match="was not run"):
        build_report(ITEMS, [beam], baseline="greedy")
