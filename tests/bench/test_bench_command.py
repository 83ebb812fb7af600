"""`stagelens bench` end to end, in a subprocess, and the bench package's place in the import graph."""

from __future__ import annotations

import ast
import json
import os
import statistics
from pathlib import Path

import pytest
from tests.fixtures.cli import one_line_error, run_stagelens

from stagelens.bench import Ceiling, bound_s
from stagelens.bench.ceiling import widths_used

BENCH_DIR = Path(__file__).resolve().parents[2] / "app" / "stagelens" / "bench"


@pytest.fixture(scope="module")
def model_args(tiny_model) -> list[str]:
    return ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]


def test_bench_runs_every_mode(scene_path, model_args):
    out = run_stagelens(
        "bench",
        *model_args,
        "--image",
        str(scene_path),
        "--beams",
        "1,2",
        "--max-stage-tokens",
        "6",
        "--scorers",
        "judge,logprob",
        "--repeat",
        "3",
        "--turns",
        "2",
        "--json",
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    turns = json.loads(out.stdout)["turns"]
    assert [t["turn"] for t in turns] == [1, 2] and all(t["read_own_turn_only"] for t in turns)
    assert turns[1]["image_encodes"] == 0 and turns[1]["prompt_tokens"] < turns[1]["held_tokens"]
    rows = json.loads(out.stdout)["rows"]
    modes = [(r["mode"], r["beam"], r["scorer"]) for r in rows]
    expected = [(m, 2, s) for s in ("judge", "logprob") for m in ("beam", "reference")]
    assert modes == [("greedy", 1, "logprob"), *expected]
    greedy, beam, reference, logprob = rows[:4]
    assert beam["vs_logprob"] == pytest.approx(
        statistics.median(j["wall_s"] / p["wall_s"] for j, p in zip(beam["repeats"], logprob["repeats"], strict=True)),
        abs=6e-3,
    ), "judge / logprob is taken inside each repeat"
    assert greedy["image_encodes"] == 1 and beam["image_encodes"] == 1
    assert reference["image_encodes"] > beam["image_encodes"]
    # one comparison per stage, unless both candidates wrote the same text (merged, not judged)
    assert beam["judge_calls"] == 4 - beam["merged"] and reference["judge_calls"] == 4 - reference["merged"]
    for row in rows:
        assert {"wall_s", "prefill_tokens", "decode_tokens", "scorer"} <= set(row)
    assert json.loads(out.stdout)["repeat"] == 3
    _check_bounds(json.loads(out.stdout))
    bad = run_stagelens("bench", *model_args, "--repeat", "0")
    assert bad.returncode == 2 and "--repeat" in bad.stderr
    for flag, value in (("--scorers", "logprob,nope"), ("--image-sizes", "8")):
        line = one_line_error(run_stagelens("bench", *model_args, flag, value))
        assert flag in line, line


def _check_bounds(report: dict) -> None:
    """Every row carries its bound and efficiency, made of its own counts and the ceiling measured in the
    same run (the arithmetic, not the timings)."""
    ceiling = Ceiling.from_json(report["ceiling"])
    ceilings = [Ceiling.from_json(c) for c in report["ceilings"]]
    assert len(ceilings) == report["repeat"], "the ceiling is measured once per repeat, beside its rows"
    assert ceiling.prefix == report["rows"][0]["prompt_tokens"] and 1 in ceiling.step_s
    for row in report["rows"]:
        steps = row["steps_by_width"]
        assert set(widths_used([steps])) <= set(ceiling.step_s), "every width the row decoded at was measured"
        lead = 1 if row["mode"] == "reference" else row["beam"]
        assert steps[lead] >= 4, "each of the four stages starts with one decode as wide as its candidates"
        assert len(row["repeats"]) == report["repeat"]
        cells = row["cells_by_width"]
        assert len(cells) == len(steps)
        # a step attends to the prompt at least, and a wider one to more (each candidate's own cells)
        assert all(c >= row["prompt_tokens"] for w, c in enumerate(cells) if steps[w])
        assert row["efficiency"] >= row["efficiency_at_prompt"], "deeper steps cost at least the shallow time"
        for measured, its_ceiling in zip(row["repeats"], ceilings, strict=True):
            assert its_ceiling.deep_prefix > its_ceiling.prefix and set(its_ceiling.deep_step_s) == set(
                its_ceiling.step_s
            )
            expected = bound_s(its_ceiling, measured["prefill_s"], steps, row["judge_tokens"], cells)
            assert measured["bound_s"] == pytest.approx(expected, abs=1e-3)
            assert measured["efficiency"] == pytest.approx(measured["bound_s"] / measured["wall_s"], abs=2e-3)
        assert row["efficiency"] == pytest.approx(statistics.median(m["efficiency"] for m in row["repeats"]), abs=1e-3)
        assert row["wall_s"] == statistics.median(m["wall_s"] for m in row["repeats"])
        assert row["first_text_s"] is not None and 0 < row["first_text_s"] <= row["wall_s"]
        # the row's counts are those of its median repeat, and so is its first-text bound
        kept = (row["wall_s"], row["prefill_s"])
        median = next(i for i, m in enumerate(row["repeats"]) if (m["wall_s"], m["prefill_s"]) == kept)
        expected = row["first_prefill_s"] + ceilings[median].step_s[lead]
        assert row["first_text_bound_s"] == pytest.approx(expected, abs=1e-3)
        assert 0 < row["first_prefill_s"] <= row["prefill_s"]


def test_bench_model_without_mmproj_is_aone_line_error(tiny_model):
    line = one_line_error(run_stagelens("bench", "--model", str(tiny_model.text)))
    assert "--mmproj" in line


def test_bench_bad_files_get_one_line(tmp_path, scene_path, model_args):
    missing = run_stagelens(
        "bench",
        "--model",
        str(tmp_path / "nope.gguf"),
        "--mmproj",
        str(tmp_path / "nope-mmproj.gguf"),
        "--image",
        str(scene_path),
        "--beams",
        "1",
    )
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0, missing.stderr
    assert "nope.gguf" in missing.stderr and "Traceback" not in missing.stderr
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    bad_image = run_stagelens("bench", *model_args, "--image", str(text), "--beams", "1")
    assert bad_image.returncode == 2 and "notes.png" in bad_image.stderr and "Traceback" not in bad_image.stderr


def test_bench_never_imports_the_cli():
    """`stagelens.cli` imports the bench lazily; the bench importing the CLI back (even inside a
    function) would make the two one circle again."""
    for path in BENCH_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f".{node.module or ''}"]
            assert not any(n == "stagelens.cli" or n.startswith("stagelens.cli.") for n in names), path.name


def test_presets_without_the_development_package_are_one_line(tmp_path):
    """What the packaged app says: it ships no stagelens_dev (simulated by a finder that refuses it)."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _NoDev:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'stagelens_dev' or name.startswith('stagelens_dev.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _NoDev())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    line = one_line_error(run_stagelens("bench", "--preset", "tiny", "--beams", "1", env=env))
    assert "development install" in line and "--model" in line
    missing = run_stagelens("make-test-model", "--out", str(tmp_path / "out"), env=env)
    assert missing.returncode == 2 and "invalid choice: 'make-test-model'" in missing.stderr


def _bench(capsys, *argv: str) -> tuple[int, str, str]:
    from stagelens.cli import main

    code = main(["bench", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_bench_with_the_judge_on_a_sentencepiece_twin(tmp_path, scene_path, capsys):
    from stagelens_dev.testmodels.twins import make_twin

    files = make_twin("llava-1.6", tmp_path)
    model = ["--model", str(files.text), "--mmproj", str(files.mmproj), "--image", str(scene_path)]
    code, out, err = _bench(capsys, *model, "--beams", "2", "--max-stage-tokens", "3", "--scorer", "judge",
                            "--no-reference", "--threads", "1", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["prompt"]["judge_choices"] == ["A", "B"]  # " A"/" B" both start with "▁" in its vocabulary
    assert report["prompt"]["placement"] == "first user turn"  # its template has no system role
    beam = report["rows"][1]
    assert beam["judge_calls"] == 4 - beam["merged"] and beam["image_encodes"] == 1 and beam["image_chunks"] == 1
    code, out, _ = _bench(capsys, *model, "--beams", "2", "--max-stage-tokens", "2", "--no-reference", "--threads", "1")
    assert code == 0 and "prompt: format instruction in the first user turn" in out


def test_bench_refuses_the_judge_in_one_line_when_no_labels_work(tiny_model, scene_path, capsys, monkeypatch):
    from stagelens.engine import engine as engine_module

    monkeypatch.setattr(engine_module, "pick_judge_labels", lambda *args: (None, -1, -1))
    model = ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj), "--image", str(scene_path)]
    code, _, err = _bench(capsys, *model, "--beams", "2", "--max-stage-tokens", "2", "--scorer", "judge")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("stagelens: error: the judge scorer cannot be used")
    assert "Traceback" not in err
