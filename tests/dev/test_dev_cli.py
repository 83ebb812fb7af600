"""`stagelens make-test-model`, registered by stagelens_dev.cli through stagelens.cli.EXTRA_COMMANDS."""

from __future__ import annotations

from tests.fixtures.cli import run_stagelens as run

from stagelens_dev.testmodels import PRESETS


def test_make_test_model(tmp_path):
    out = run("make-test-model", "--preset", "tiny", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tiny-text.gguf").is_file() and (tmp_path / "tiny-mmproj.gguf").is_file()


def test_make_test_model_offers_every_preset_and_refuses_others(tmp_path):
    helped = run("make-test-model", "--help")
    assert helped.returncode == 0 and "{" + ",".join(PRESETS) + "}" in helped.stdout
    out = run("make-test-model", "--preset", "huge", "--out", str(tmp_path))
    assert out.returncode == 2 and "'huge'" in out.stderr and all(p in out.stderr for p in PRESETS)
    assert not list(tmp_path.iterdir())
