"""`stagelens eval --out` resumes (also after a crash mid-line) and refuses another run's file;
`--shard I/N` runs every N-th item and `stagelens eval merge` gives a single run's summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from stagelens.evaluation import cli as eval_cli
from stagelens.evaluation import evaluate as evaluate_module
from stagelens.evaluation.results import ResultsError, merge_results, parse_shard, read_results, shard_indices

REPO = Path(__file__).resolve().parents[2]
HELDOUT = REPO / "models" / "demo" / "heldout.jsonl"
N_ITEMS = 6
METHODS = "greedy,bestofn:2,beam:2:logprob"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    return parser.parse_args(argv)


def _eval(tiny_model, *extra: str, methods: str = METHODS, dataset: Path = HELDOUT) -> int:
    argv = ["eval", "--dataset", str(dataset), "--limit", str(N_ITEMS), "--methods", methods]
    argv += ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]
    argv += ["--max-stage-tokens", "6", "--threads", "1", "--quiet", "--json", *extra]
    return eval_cli.run(_parse(argv))


def _summary(capsys: pytest.CaptureFixture) -> dict:
    summary = json.loads(capsys.readouterr().out)
    for row in summary["results"]:
        row.pop("mean_seconds")  # the one number that differs between runs
    return summary["results"]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_shards_merge_into_the_single_runs_summary(tiny_model, tmp_path: Path, capsys) -> None:
    assert _eval(tiny_model, "--out", str(tmp_path / "all.jsonl")) == 0
    single = _summary(capsys)
    shards = [tmp_path / "s1.jsonl", tmp_path / "s2.jsonl"]
    for i, path in enumerate(shards, 1):
        assert _eval(tiny_model, "--shard", f"{i}/2", "--out", str(path)) == 0
        capsys.readouterr()
    assert sorted({r["index"] for r in _records(shards[0])}) == [0, 2, 4]
    assert sorted({r["index"] for r in _records(shards[1])}) == [1, 3, 5]
    # another baseline: the paired columns are against it
    argv = ["eval", "merge", *map(str, shards), "--json", "--baseline", "bestofn:2"]
    assert eval_cli.run_merge(_parse(argv)) == 0
    by_name = {row["method"]: row for row in _summary(capsys)}
    assert by_name["bestofn:2"]["versus_baseline"] is None and by_name["greedy"]["versus_baseline"] is not None
    assert eval_cli.run_merge(_parse(["eval", "merge", *map(str, shards), "--baseline", "beam:9"])) == 2
    assert "--baseline beam:9 is not one of the methods" in capsys.readouterr().err
    report = tmp_path / "merged.md"
    assert eval_cli.run_merge(_parse(["eval", "merge", *map(str, shards), "--json", "--report", str(report)])) == 0
    assert _summary(capsys) == single
    text = report.read_text(encoding="utf-8")
    assert (
        "6 of its first 6 items (--limit)" in text
        and "| bestofn:2 | 6 |" in text
        and (tmp_path / "merged-kinds.svg").is_file()
    )
    # a missing shard is said, not hidden
    merged = merge_results(shards[:1])
    assert merged.notes == ["the files cover 3 of the run's 6 items (is a shard missing?)"]


def test_merge_refuses_files_of_different_runs(tiny_model, tmp_path: Path, capsys) -> None:
    one, other = tmp_path / "one.jsonl", tmp_path / "other.jsonl"
    assert _eval(tiny_model, "--shard", "1/2", "--out", str(one), methods="greedy") == 0
    assert _eval(tiny_model, "--shard", "2/2", "--out", str(other), "--temperature", "0.3", methods="greedy") == 0
    with pytest.raises(ResultsError, match=r"other settings \(temperature"):
        merge_results([one, other])
    assert _eval(tiny_model, "--shard", "2/2", "--out", str(tmp_path / "b.jsonl"), methods="greedy,bestofn:2") == 0
    with pytest.raises(ResultsError, match="has the methods greedy, bestofn:2"):
        merge_results([one, tmp_path / "b.jsonl"])
    with pytest.raises(ResultsError, match="item 0 of greedy is in both"):
        merge_results([one, one])
    capsys.readouterr()
    assert eval_cli.run_merge(_parse(["eval", "merge", str(one), str(other)])) == 2
    assert "not shards of one run" in capsys.readouterr().err


def test_resume_after_a_crash_skips_what_is_done_and_rewrites_the_cut_line(
    tiny_model, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.jsonl"
    real_run_item = evaluate_module.run_item
    calls: list[tuple[str, int]] = []

    def crashing(engine, method, item, base, index):
        if len(calls) == 8:  # greedy done (6), bestofn:2 on two items: then the process dies
            raise KeyboardInterrupt
        calls.append((method.name, index))
        return real_run_item(engine, method, item, base, index)

    monkeypatch.setattr(evaluate_module, "run_item", crashing)
    with pytest.raises(KeyboardInterrupt):
        _eval(tiny_model, "--out", str(out))
    assert len(_records(out)) == 8
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"results": 1, "run": {"dataset": "be79')  # killed while writing the ninth line
    with pytest.raises(ResultsError, match="cut short"):
        read_results(out, tolerate_cut=False)

    calls.clear()
    monkeypatch.setattr(evaluate_module, "run_item", lambda *a: (calls.append((a[1].name, a[4])), real_run_item(*a))[1])
    assert _eval(tiny_model, "--out", str(out)) == 0
    resumed = _summary(capsys)
    assert len(calls) == 3 * N_ITEMS - 8 and ("greedy", 0) not in calls and ("bestofn:2", 2) in calls
    records = _records(out)  # every line whole again, each (method, item) once
    assert sorted((r["method"], r["index"]) for r in records) == sorted(
        (m, i) for m in METHODS.split(",") for i in range(N_ITEMS)
    )
    # running again does nothing more, and gives the same summary as an uninterrupted run
    calls.clear()
    assert _eval(tiny_model, "--out", str(out)) == 0
    assert calls == [] and _summary(capsys) == resumed
    assert _eval(tiny_model, "--out", str(tmp_path / "fresh.jsonl")) == 0
    assert _summary(capsys) == resumed


def test_resume_refuses_another_runs_file(tiny_model, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "results.jsonl"
    assert _eval(tiny_model, "--out", str(out), methods="greedy") == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert _eval(tiny_model, "--out", str(out), "--temperature", "0.9", methods="greedy") == 2
    assert "holds results of other settings (temperature" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"
    other.write_text(HELDOUT.read_text(encoding="utf-8").replace("heldout/", str(HELDOUT.parent) + "/heldout/"))
    assert _eval(tiny_model, "--out", str(out), methods="greedy", dataset=other) == 2
    assert "holds results of another dataset" in capsys.readouterr().err
    assert out.read_bytes() == before  # nothing was mixed in
    # a damaged line that is not the last one is an error, not skipped
    out.write_bytes(b"{oops\n" + before)
    assert _eval(tiny_model, "--out", str(out), methods="greedy") == 2
    assert "results.jsonl:1: not a results line" in capsys.readouterr().err


def test_shard_syntax() -> None:
    assert parse_shard(None) == (1, 1) and parse_shard("2/3") == (2, 3)
    assert shard_indices(7, (2, 3)) == [1, 4] and shard_indices(7, (1, 1)) == list(range(7))
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(ValueError, match="write I/N"):
            parse_shard(bad)
