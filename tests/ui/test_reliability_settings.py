"""The window on a settings file it cannot read as it is (issue 12): the file is kept beside as a
backup before anything is written, every value that can still be read is kept, and the window says
what was reset, naming the settings."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402

TIMEOUT_MS = 120_000
GOOD = {"beam": 3, "scorer": "judge", "temperature": 0.25, "max_stage_tokens": 48, "n_ctx": 4096}
GOOD_TEXT = json.dumps(GOOD, indent=2)

# (file bytes, what the notice must say, settings that must be kept)
CASES = {
    "garbage": (b"}{ not settings at all \x01\x02", ["it is not JSON", "Every setting is back"], {}),
    "truncated": (  # cut inside "max_stage_tokens": the values before it are whole
        GOOD_TEXT.encode()[:70],
        ["it is cut short", "Read from it: Beam width, Scorer, Temperature."],
        {"beam": 3, "scorer": "judge", "temperature": 0.25},
    ),
    "invalid-utf8": (
        GOOD_TEXT.replace('"judge"', '"ju\udcffdge"').encode("utf-8", "surrogateescape"),
        ["not UTF-8 text", "Unusable values, reset: Scorer.", "Beam width"],
        {"beam": 3, "temperature": 0.25, "max_stage_tokens": 48, "n_ctx": 4096},
    ),
    "wrong-types": (
        json.dumps({**GOOD, "beam": "three", "temperature": [1]}).encode(),
        ["back to their defaults: Beam width, Temperature"],
        {"scorer": "judge", "max_stage_tokens": 48, "n_ctx": 4096},
    ),
    "array": (b'[{"beam": 3}]', ["holds a JSON array instead of a JSON object"], {}),
}


@pytest.mark.parametrize("kind", CASES)
def test_a_bad_settings_file_is_kept_and_what_was_reset_is_said(qtbot, tiny_model, tmp_path, monkeypatch, kind):
    data, needles, kept = CASES[kind]
    monkeypatch.setenv("STAGELENS_HOME", str(tmp_path))
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_bytes(data)
    model = ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test")
    window = MainWindow(model=model)  # settings from the file, saved to it
    qtbot.addWidget(window)
    window.show()
    [backup] = [p for p in config.iterdir() if p.name.startswith("settings.json.backup-")]
    assert backup.read_bytes() == data, "the file as it was, kept beside it"
    notice = window.notices.messages().get("settings", "")
    assert f"kept as {backup}" in notice and all(n in notice for n in needles), notice
    for name, value in kept.items():
        assert getattr(window.settings, name) == value, name
    defaults = AppSettings()
    for name in GOOD:
        if name not in kept:
            assert getattr(window.settings, name) == getattr(defaults, name), name
    qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
    window.close()  # the window saves its settings when it closes
    assert backup.read_bytes() == data, "never overwritten"
    saved = json.loads((config / "settings.json").read_text())
    assert {k: saved[k] for k in kept} == kept
