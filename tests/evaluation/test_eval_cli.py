"""`stagelens eval`: dataset parsing, answer matching, methods, and the command end to end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stagelens.evaluation import cli as eval_cli
from stagelens.evaluation.dataset import DatasetError, load_dataset
from stagelens.evaluation.evaluate import Method, MethodError, answer_logprob, parse_method, parse_methods
from stagelens.evaluation.matching import is_correct, normalize, pick_choice

REPO = Path(__file__).resolve().parents[2]
HELDOUT = REPO / "models" / "demo" / "heldout.jsonl"


# ----------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        ("Blue", "blue", True),
        ("  the Red Circle. ", "red circle", True),
        ("two", "2", True),
        ("2", "two", True),
        ("3", "2", False),
        ("a green square", "green square", True),
        ("green", "green square", False),
        ("yes!", "yes", True),
    ],
)
def test_normalised_exact_match(prediction: str, answer: str, expected: bool) -> None:
    assert is_correct(prediction, answer) is expected


def test_multiple_choice_picks_the_named_choice() -> None:
    choices = ["red circle", "blue square"]
    assert pick_choice("The blue square is bigger", choices) == "blue square"
    assert pick_choice("red circle", choices) == "red circle"
    assert pick_choice("red circle or blue square", choices) is None  # names both: no pick
    assert pick_choice("green triangle", choices) is None
    assert is_correct("It is the blue square.", "blue square", choices)
    assert not is_correct("red circle", "blue square", choices)
    assert normalize("An  Apple") == "apple"


# ------------------------------------------------------------------------------------ parsing


def test_methods_parse() -> None:
    assert parse_methods("greedy, bestofn:4,beam:2,beam:4:judge") == [
        Method("greedy"),
        Method("bestofn", 4),
        Method("beam", 2, "logprob"),
        Method("beam", 4, "judge"),
    ]
    assert parse_method("beam:4:judge").name == "beam:4:judge"
    for bad in ("beam", "beam:0", "beam:2:python", "bestofn", "bestofn:x", "sample"):
        with pytest.raises(MethodError, match="unknown method"):
            parse_method(bad)


def _write_dataset(tmp_path: Path, lines: list[str]) -> Path:
    first_image = json.loads(HELDOUT.read_text(encoding="utf-8").splitlines()[0])["image"]
    (tmp_path / "img.png").write_bytes((HELDOUT.parent / first_image).read_bytes())
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"image": "img.png", "answer": "1"}', "'question' must be a non-empty string"),
        ('{"image": "missing.png", "question": "q?", "answer": "1"}', "image missing.png not found"),
        ('{"image": "img.png", "question": "q?", "answer": "1", "choices": "1"}', "'choices' must be a list"),
        ('{"image": "img.png", "question": "q?", "answer": "1", "kind": ""}', "'kind' must be a non-empty string"),
        ('{"image": "img.png", "question": "q?", "answer": "1", "stages": {"caption": 3}}', "'stages' must map"),
        ('{"image": "img.png", "question": "q?", "answer": "1", "stages": {"answer": "1"}}', "'stages' must map"),
    ],
)
def test_bad_dataset_lines_are_named(tmp_path: Path, bad_line: str, message: str) -> None:
    good = '{"image": "img.png", "question": "How many?", "answer": "1"}'
    path = _write_dataset(tmp_path, [good, bad_line])
    with pytest.raises(DatasetError, match=rf"data\.jsonl:2: .*{message}"):
        load_dataset(path)


def test_dataset_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = _write_dataset(tmp_path, ['{"image": "img.png", "question": "q?", "answer": "1", "choices": ["1", "2"]}'])
    (item,) = load_dataset(path)
    assert item.image == (tmp_path / "img.png").resolve() and item.choices == ("1", "2") and item.line == 1
    assert item.kind is None and item.stages == {}


def test_dataset_kinds_and_reference_stages_are_read(tmp_path: Path) -> None:
    line = {"image": "img.png", "question": "q?", "answer": "1", "kind": "count", "stages": {"caption": "c"}}
    path = _write_dataset(tmp_path, [json.dumps({**line, "extra": [1, 2]})])  # unknown keys are ignored
    (item,) = load_dataset(path)
    assert item.kind == "count" and item.stages == {"caption": "c"}


def test_answer_logprob_is_the_token_weighted_mean() -> None:
    from stagelens.engine.trace import Candidate, Stage, Trace

    trace = Trace.__new__(Trace)
    trace.stages = [
        Stage("summary", "a", [Candidate("a", 2, -1.0, None, True, 0.0), Candidate("b", 9, -0.1, None, False, 0.0)]),
        Stage("caption", "c", [Candidate("c", 6, -0.5, None, True, 0.0)]),
    ]
    assert answer_logprob(trace) == pytest.approx((2 * -1.0 + 6 * -0.5) / 8)


# ------------------------------------------------------------------------------- end to end


def _args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    argv = ["eval"]
    for key, value in kw.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return parser.parse_args(argv)


def test_eval_runs_every_method_on_a_few_items(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "traces.jsonl"
    args = _args(
        dataset=HELDOUT,
        limit=5,
        methods="greedy,bestofn:2,beam:2:logprob,beam:2:judge,bestofn:2:judge,retrace:2:1",
        out=out,
        json=True,
        max_stage_tokens=96,
        quiet=True,
        threads=1,
        retrace_margin=0.0,
    )
    assert eval_cli.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    names = ["greedy", "bestofn:2", "beam:2:logprob", "beam:2:judge", "bestofn:2:judge", "retrace:2:1:logprob"]
    assert [r["method"] for r in summary["results"]] == names
    for row in summary["results"]:
        assert row["items"] == 5 and 0.0 <= row["accuracy"] <= 1.0 and row["mean_tokens"] > 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 30
    bestofn = [r for r in records if r["method"] == "bestofn:2"]
    assert all(len(r["traces"]) == 1 and len(r["traces"][0]["answers"]) == 2 for r in bestofn)  # one batched search
    judged = [r["traces"][0] for r in records if r["method"] == "bestofn:2:judge"]
    assert all(t["settings"]["scorer"] == "judge" and len(t["answers"]) == 2 for t in judged)
    assert all(t["stats"]["judge_calls"] == len(t["answer_bracket"]) for t in judged)
    retraced = [r["traces"][0] for r in records if r["method"] == "retrace:2:1:logprob"]
    assert all(t["settings"]["retrace"] == 1 and len(t["retraces"]) <= 1 for t in retraced)
    assert any(t["retraces"] for t in retraced)  # margin 0: a stage less sure than the one before is redone
    assert not any(r["traces"][0]["retraces"] for r in records if r["method"] == "beam:2:logprob")
    greedy = [r for r in records if r["method"] == "greedy"]
    assert all(r["traces"][0]["settings"]["temperature"] == 0.0 for r in greedy)
    beam = [r for r in records if r["method"] == "beam:2:judge"]
    assert all(r["traces"][0]["settings"]["beam"] == 2 for r in beam)
    # the reported numbers are what the per-item records say
    assert summary["baseline"] == "greedy"
    base = [r["correct"] for r in greedy]
    for row in summary["results"]:
        mine = [r["correct"] for r in records if r["method"] == row["method"]]
        assert row["accuracy"] == pytest.approx(sum(mine) / len(mine))
        low, high = row["accuracy_interval"]
        assert low <= row["accuracy"] <= high
        for kind, cell in row["by_kind"].items():
            of_kind = [r["correct"] for r in records if r["method"] == row["method"] and r["kind"] == kind]
            assert cell["items"] == len(of_kind) and cell["accuracy"] == pytest.approx(sum(of_kind) / len(of_kind))
        assert set(row["stage_matches_reference"]) == {"summary", "caption", "reasoning"}
        if row["method"] == "greedy":
            assert row["versus_baseline"] is None
        else:
            paired = row["versus_baseline"]
            assert paired["method_only"] == sum(m and not b for m, b in zip(mine, base, strict=True))
            assert paired["baseline_only"] == sum(b and not m for m, b in zip(mine, base, strict=True))


def test_eval_rejects_bad_input_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write_dataset(tmp_path, ['{"image": "img.png", "question": "q?"}'])
    assert eval_cli.run(_args(dataset=path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stagelens: error: ") and "data.jsonl:1" in err and "\n" not in err
    assert eval_cli.run(_args(dataset=HELDOUT, methods="beam:x")) == 2
    assert eval_cli.run(_args(dataset=HELDOUT, model="only-text.gguf")) == 2


def test_eval_with_another_model(tiny_model, capsys: pytest.CaptureFixture) -> None:
    args = _args(
        dataset=HELDOUT,
        limit=2,
        methods="greedy",
        model=tiny_model.text,
        mmproj=tiny_model.mmproj,
        json=True,
        quiet=True,
        max_stage_tokens=8,
        threads=1,
    )
    assert eval_cli.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(tiny_model.text) and summary["results"][0]["items"] == 2


def test_stagelens_eval_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "app")}
    cmd = [
        sys.executable,
        "-m",
        "stagelens",
        "eval",
        "--dataset",
        str(HELDOUT),
        "--limit",
        "3",
        "--methods",
        "greedy",
        "--json",
        "--quiet",
        "--threads",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["items"] == 3
    bad = _write_dataset(tmp_path, ["{oops"])
    done = subprocess.run([*cmd[:5], str(bad)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "data.jsonl:1: not valid JSON" in done.stderr


def test_the_report_says_when_the_run_had_the_files_first_items_only() -> None:
    from types import SimpleNamespace

    from stagelens.evaluation.results import RunKey

    report = SimpleNamespace(methods=[SimpleNamespace(n_items=240)], baseline="greedy")
    names = {"dataset": "val.jsonl", "text": "t.gguf", "mmproj": "m.gguf"}
    whole = RunKey("ab" * 32, 240, {}, {"text": "k", "mmproj": "k"}, names)
    limited = RunKey("ab" * 32, 240, {}, {"text": "k", "mmproj": "k"}, {**names, "limit": "240"})
    assert eval_cli._facts(whole, report)["dataset"].endswith(", 240 of its 240 items")
    assert eval_cli._facts(limited, report)["dataset"].endswith(", 240 of its first 240 items (--limit)")
