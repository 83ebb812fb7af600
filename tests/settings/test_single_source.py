"""No default, range, choice list, stage list or exit code is written outside stagelens.settings."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from single_source import PACKAGE, scan_package, scan_source


def test_nothing_outside_the_settings_package_writes_a_default() -> None:
    found = scan_package()
    assert not found, "write these through stagelens.settings:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ('p.add_argument("--n-ctx", type=int, default=4096)', "add_argument(default=4096)"),
        ('p.add_argument("--scorer", choices=("logprob", "judge"))', "add_argument(choices="),
        ('p.add_argument("--seed", type=int, default=None)', "add_argument(default=None)"),
        ("DEFAULT_MAX_SIDE = 1024", "constant DEFAULT_MAX_SIDE = 1024 duplicates the setting image_max_side"),
        ("DEFAULT_N_CTX = 8192", "duplicates the setting n_ctx"),
        ('SCORER_CHOICES = ("logprob", "judge")', "duplicates the setting scorer"),
        ('MODES = ("batched", "reference")', "choice list"),
        ("class Options:\n    n_ctx: int = 4096", "field Options.n_ctx = 4096 has its own default"),
        ('class Options:\n    scorer: str = "judge"', "field Options.scorer"),
        ("def answer(temperature: float = 0.7): ...", "parameter answer(temperature=0.7)"),
        ("def answer(*, stream_interval_ms: int = 50): ...", "parameter answer(stream_interval_ms=50)"),
        ('LoadSettings("m.gguf", None, n_ctx=8192)', "n_ctx=8192 writes the setting's own number 8192"),
        ("def load(beam):\n    max_beam = max(8, beam)", "max_beam=max(8, beam) writes the setting's own number 8"),
        ("spin.setRange(512, 262144)", "range (512, 262144) of n_ctx"),
        ("spin.setRange(0.0, 2.0)", "range (0.0, 2.0) of temperature"),
        ('RANGES = {"beam": (1, 16)}', "range (1, 16) of beam"),
        ("if settings.n_ctx < 512:\n    pass", "a bound of n_ctx"),
        ('HIDDEN = ("summary", "caption", "reasoning")', "stage list"),
        ('STAGES = ["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"]', "stage list"),
        ("EXIT_BAD_INPUT = 2", "exit code EXIT_BAD_INPUT defined outside"),
        ("from stagelens.settings import EXIT_OK\ndef run():\n    return 130", "return 130: an exit code"),
    ],
)
def test_the_scan_catches_each_kind_of_duplicate(source: str, needle: str) -> None:
    found = scan_source(textwrap.dedent(source))
    assert any(needle in line for line in found), found


@pytest.mark.parametrize(
    "source",
    [
        '_SIXTEEN_BIT_MODES = ("I;16", "I;16L")',  # "modes", but not the search mode
        'DEMO_MMPROJ = "demo-mmproj.gguf"',
        "TITLE_CHARS = 60",
        "AppSettings(beam=2, max_stage_tokens=12, n_ctx=4096)",  # a caller's own choice, not the default
        "SearchSettings(beam=1, temperature=0.0)",
        "if settings.beam > 1:\n    pass",
        "for i in range(0, 2):\n    pass",
        "load_image(path, max_side=224)",
        'class KnownModel:\n    mmproj: str = ""',  # the setting's default is None: '' is something else
        "def plan(n_ctx: int | None = None): ...",
        'TITLES = {"summary": "Summary", "caption": "Caption"}',
        'if stage.name == "conclusion":\n    pass',
        "def score(a, b):\n    return 2",  # not a command module
        "size = 1024 * 1024",
    ],
)
def test_the_scan_leaves_unrelated_code_alone(source: str) -> None:
    assert scan_source(textwrap.dedent(source)) == []


def test_a_duplicate_planted_in_a_copy_of_the_package_is_found(tmp_path: Path) -> None:
    copy = tmp_path / "stagelens"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    images = copy / "images" / "decode.py"
    text = images.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("DEFAULT_MAX_SIDE ="))
    images.write_text(text.replace(line, "DEFAULT_MAX_SIDE = 1024"), encoding="utf-8")
    cli = copy / "evaluation" / "cli.py"
    plant = '\n\ndef _plant(p):\n    p.add_argument("--n-ctx", default=4096)\n'
    cli.write_text(cli.read_text(encoding="utf-8") + plant, encoding="utf-8")
    found = scan_package(copy)
    assert len(found) == 2, found
    assert found[0].startswith("evaluation/cli.py:") and "default=4096" in found[0]
    assert found[1].startswith("images/decode.py:") and "DEFAULT_MAX_SIDE = 1024" in found[1]
