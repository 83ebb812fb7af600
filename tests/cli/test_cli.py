"""`stagelens` end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stagelens", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def model_args(tiny_model) -> list[str]:
    return ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]


def test_ask_prints_the_conclusion_of_the_trace(scene_path, model_args):
    common = [
        "ask",
        str(scene_path),
        "-q",
        "How many red circles?",
        *model_args,
        "--beam",
        "2",
        "--seed",
        "5",
        "--max-stage-tokens",
        "10",
    ]
    plain = run(*common)
    assert plain.returncode == 0, plain.stderr
    traced = run(*common, "--json")
    assert traced.returncode == 0, traced.stderr
    trace = json.loads(traced.stdout)
    assert trace["schema"] == 4 and trace["settings"]["beam"] == 2 and trace["settings"]["seed"] == 5
    assert [s["name"] for s in trace["stages"]] == ["summary", "caption", "reasoning", "conclusion"]
    assert plain.stdout == trace["conclusion"] + "\n"


def test_ask_verbose_prints_all_four_stages(scene_path, model_args):
    out = run(
        "ask",
        str(scene_path),
        "-q",
        "What is shown?",
        *model_args,
        "--beam",
        "1",
        "--max-stage-tokens",
        "6",
        "--verbose",
    )
    assert out.returncode == 0, out.stderr
    wanted = ["SUMMARY:", "CAPTION:", "REASONING:", "CONCLUSION:"]
    assert [line for line in out.stdout.splitlines() if line in wanted] == wanted
    footer = out.stdout.strip().splitlines()[-1]
    assert "beam 1" in footer and "seed None" not in footer


def test_ask_retraces_and_answers_best_of_n(scene_path, model_args):
    common = ["ask", str(scene_path), "-q", "How many red circles?", *model_args, "--max-stage-tokens", "6"]
    retraced = run(*common, "--beam", "2", "--seed", "3", "--retrace", "2", "--retrace-margin", "0", "--verbose")
    assert retraced.returncode == 0, retraced.stderr
    lines = retraced.stdout.strip().splitlines()
    said = [line for line in lines if line.startswith("(retraced: the best ")]
    assert 1 <= len(said) <= 2 and lines[-1].endswith(f"{len(said)}/2 retraces, seed 3)")
    best = run(*common, "--best-of", "3", "--seed", "3", "--json")
    assert best.returncode == 0, best.stderr
    trace = json.loads(best.stdout)
    assert len(trace["answers"]) == 3 and sum(a["selected"] for a in trace["answers"]) == 1
    assert trace["stats"]["image_encodes"] == 1 and all(len(s["candidates"]) == 3 for s in trace["stages"])
    judged = run(*common, "--best-of", "3", "--seed", "3", "--scorer", "judge", "--temperature", "1.5", "--verbose")
    assert judged.returncode == 0, judged.stderr
    answers = [line for line in judged.stdout.splitlines() if line.startswith("(answer ")]
    assert len(answers) == 3 and all(": judge margin " in line for line in answers)
    assert sum(line.endswith(", kept)") for line in answers) == 1
    assert judged.stdout.strip().splitlines()[-1].endswith("best-of 3, judge, seed 3)")
    both = run(*common, "--best-of", "3", "--retrace", "1")
    assert both.returncode == 2 and "best-of-N has no stages to retrace" in both.stderr


@pytest.mark.parametrize(
    ("make_bad", "needle"),
    [
        (lambda p: p.write_text("this is not a picture"), "not an image"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: None, "does not exist"),
    ],
)
def test_bad_image_exits_2_with_one_line(tmp_path, model_args, make_bad, needle):
    bad = tmp_path / "holiday.png"
    make_bad(bad)
    out = run("ask", str(bad), "-q", "What is this?", *model_args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("stagelens: error:") and "holiday.png" in lines[0] and needle in lines[0]


def test_bad_model_and_settings_exit_2(scene_path, model_args, tiny_model, tmp_path):
    cases = [
        ["--model", str(tmp_path / "nope.gguf"), "--mmproj", str(tiny_model.mmproj)],
        ["--model", str(tiny_model.text)],
        [*model_args, "--beam", "0"],
        [*model_args, "--scorer", "judge", "--temperature", "-1"],
    ]
    for extra in cases:
        out = run("ask", str(scene_path), "-q", "What?", *extra)
        assert out.returncode == 2, (extra, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def test_info_shows_one_libllama_in_the_process():
    out = run("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    names = [p.rsplit("/", 1)[-1] for p in info["native_libraries"]]
    assert sum(n.startswith("libllama") for n in names) == 1
    assert sum(n.startswith("libmtmd") for n in names) == 1
    assert info["devices"] and info["devices"][0]["type"] in ("cpu", "gpu", "igpu", "accel")


def test_optional_command_modules_are_told_apart_from_broken_ones():
    from stagelens.cli import _is_this_or_parent

    assert _is_this_or_parent("stagelens.evaluation.cli", "stagelens.evaluation.cli")
    assert _is_this_or_parent("stagelens.evaluation", "stagelens.evaluation.cli")
    assert not _is_this_or_parent("torch", "stagelens.evaluation.cli")
    assert not _is_this_or_parent("stagelens.eval", "stagelens.evaluation.cli")


def _one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("stagelens: error:"), out.stderr
    return lines[0]


def test_engine_refusing_its_settings_is_a_one_line_error(scene_path, model_args):
    line = _one_line_error(run("ask", str(scene_path), "-q", "What?", *model_args, "--n-ctx", "10"))
    assert "n_ctx" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ask", "x.png", "-q", "What?", "--beam", "abc"], "--beam"),
        (["ask", "x.png", "-q", "What?", "--scorer", "bogus"], "--scorer"),
        (["ask", "x.png"], "--question"),
        (["--no-such-option"], "--no-such-option"),
        (["bench", "--beams"], "--beams"),
        (["models", "bogus"], "bogus"),
        (["ask", "x.png", "-q", "What?", "--image-max-side", "8"], "--image-max-side"),
        (["eval", "--dataset", "d.jsonl", "--limit", "0"], "--limit"),
        (["models", "gpu", "--n-ctx", "big"], "--n-ctx"),
        (["bench", "--n-gpu-layers", "lots"], "GPU layers"),
        # never abbreviated: `--image` is not `--image-max-side`, `--ret` is not `--retrace`
        (["ask", "-q", "What?", "--image", "x.png"], "unrecognized arguments: --image"),
        (["ask", "x.png", "-q", "What?", "--ret", "2"], "unrecognized arguments: --ret"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, needle):
    assert needle in _one_line_error(run(*args))


def test_threads_help_says_what_zero_means():
    out = run("ask", "--help")
    assert out.returncode == 0
    assert "one per core up to 4 cores, else half" in " ".join(out.stdout.split())


def test_directly_imported_packages_are_declared():
    import ast
    import re
    import tomllib
    from importlib.metadata import packages_distributions
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for deps in project["optional-dependencies"].values() for d in deps]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in declared}
    dists = packages_distributions()
    missing = set()
    for path in (root / "app" / "stagelens").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                for dist in dists.get(top, []):
                    if dist.lower() != project["name"] and dist.lower().replace("_", "-") not in names:
                        missing.add((top, dist))
    assert not missing


def test_gpu_layers_take_auto_and_refuse_nonsense(scene_path, model_args):
    out = run(
        "ask",
        str(scene_path),
        "-q",
        "What is here?",
        *model_args,
        "--n-gpu-layers",
        "auto",
        "--max-stage-tokens",
        "4",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    bad = run("ask", str(scene_path), "-q", "What is here?", *model_args, "--n-gpu-layers", "lots")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "GPU layers" in bad.stderr
