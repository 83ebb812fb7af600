"""`ask` and `eval` with --scorer verifier, as a user runs them: the demo model as its own verifier, the
verifier's cost on a line of its own, bad verifiers as one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.cli import one_line_error, run_stagelens

from stagelens.models.default import demo_model

DEMO = demo_model()
pytestmark = pytest.mark.skipif(DEMO is None, reason="the demo model is not installed")
FAST = ("--max-stage-tokens", "24", "--threads", "1", "--n-ctx", "2048", "--seed", "1")


def _image() -> str:
    assert DEMO is not None
    return str(Path(DEMO.text).parent / "heldout" / "0000.png")


def _verifier_args() -> list[str]:
    assert DEMO is not None
    return ["--verifier", str(DEMO.text), "--verifier-mmproj", str(DEMO.mmproj)]


def test_ask_with_the_demo_model_as_verifier_prints_its_cost_apart() -> None:
    out = run_stagelens("ask", _image(), "-q", "What color is the triangle?", "--beam", "2", "--scorer", "verifier",
                        *_verifier_args(), *FAST, "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)["stats"]
    assert stats["verifier_calls"] == 4 and stats["verifier_image_encodes"] == 1 and stats["image_encodes"] == 1
    plain = run_stagelens("ask", _image(), "-q", "What color is the triangle?", "--beam", "2", "--scorer", "verifier",
                          *_verifier_args(), *FAST)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    line = plain.stderr.strip().splitlines()[-1]
    assert line.startswith("verifier: ") and "1 image encodes" in line and "answering model: " in line


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ((), "--scorer verifier needs a verifier model"),
        (("--verifier", "/nonexistent/v.gguf"), "the verifier model /nonexistent/v.gguf does not exist"),
        (("--verifier", __file__), "could not load the verifier"),
        (("--verifier", "VERIFIER", "--verifier-format", "prm", "--verifier-mode", "sideways"), "--verifier-mode"),
    ],
)
def test_ask_with_a_bad_verifier_is_one_line(extra: tuple[str, ...], says: str) -> None:
    assert DEMO is not None
    extra = tuple(str(DEMO.text) if a == "VERIFIER" else a for a in extra)
    out = run_stagelens("ask", _image(), "-q", "?", "--beam", "2", "--scorer", "verifier", *extra, *FAST)
    assert says in one_line_error(out)


def test_eval_runs_the_verifier_method(tmp_path: Path, tiny_model) -> None:
    assert DEMO is not None
    out = run_stagelens("eval", "--dataset", str(Path(DEMO.text).parent / "heldout.jsonl"), "--limit", "1",
                        "--methods", "beam:2:verifier", *_verifier_args(), "--max-stage-tokens", "24", "--threads",
                        "1", "--n-ctx", "2048", "--quiet", "--json", "--out", str(tmp_path / "t.jsonl"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert [r["method"] for r in json.loads(out.stdout)["results"]] == ["beam:2:verifier"]
    record = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert "verifier_calls" in json.dumps(record)
    # the verifier's tokens are counted apart, in the record, the summary and the report
    read = sum(t["stats"]["verifier_tokens"] for t in record["traces"])
    assert read > 0 and record["verifier_tokens"] == read
    assert json.loads(out.stdout)["results"][0]["mean_verifier_tokens"] == read
    report = tmp_path / "r.md"
    merged = run_stagelens("eval", "merge", str(tmp_path / "t.jsonl"), "--report", str(report))
    assert merged.returncode == 0, merged.stderr
    assert "verifier tokens / q" in report.read_text() and f"{read:.1f}" in report.read_text()
    # results scored by another verifier (file or mode) are never resumed into this run
    for other in (["--verifier", str(tiny_model.text)], [*_verifier_args(), "--verifier-mode", "outcome"]):
        dataset = str(Path(DEMO.text).parent / "heldout.jsonl")
        resumed = run_stagelens("eval", "--dataset", dataset, "--limit", "1", "--methods", "beam:2:verifier",
                                *other, "--max-stage-tokens", "24", "--threads", "1", "--n-ctx", "2048", "--quiet",
                                "--out", str(tmp_path / "t.jsonl"))  # fmt: skip
        assert "another" in one_line_error(resumed) or "other settings" in one_line_error(resumed)
    missing = run_stagelens("eval", "--dataset", str(Path(DEMO.text).parent / "heldout.jsonl"), "--limit", "1",
                            "--methods", "beam:2:verifier", "--quiet")  # fmt: skip
    assert "needs a verifier model" in one_line_error(missing)


def test_ask_with_a_verifier_lacking_its_score_tokens_is_one_line(tiny_model) -> None:
    out = run_stagelens("ask", _image(), "-q", "?", "--beam", "2", "--scorer", "verifier", "--verifier",
                        str(tiny_model.text), "--verifier-format", "judge", *FAST)  # fmt: skip
    assert "has no single tokens for 'Yes'/'No' or 'yes'/'no' (try --verifier-format prm)" in one_line_error(out)
