"""Answer presets: Fast, Balanced, Thorough, Custom — what each searches with (one table), the
time estimate relative to Fast (its arithmetic, and its measurement on the first answers of the
current model), the settings file from before presets, and choosing one in the real window."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QRect, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from tests.fixtures.qt_window import ask, shot  # noqa: E402

from stagelens.session.timing import FAST_KEY, SearchKey, ThinkingTimes  # noqa: E402
from stagelens.settings import (  # noqa: E402
    PRESETS,
    AppSettings,
    load_settings,
    preset_named_by,
    relative_cost,
    search_choice,
    setting,
)
from stagelens.settings.presets import EXTRA_CANDIDATE_COST, JUDGE_COMPARISON_COST, search_settings  # noqa: E402

BALANCED = SearchKey.of(2, "logprob")
THOROUGH = SearchKey.of(4, "judge")


def test_each_preset_searches_with_its_own_numbers_and_custom_with_the_settings():
    mine = AppSettings(beam=3, scorer="judge", temperature=1.1, max_stage_tokens=99)
    assert [p.name for p in PRESETS] == list(setting("preset").choices)
    assert all(p.explanation and len(p.explanation) < 80 for p in PRESETS), "one line each"
    fast, balanced, thorough, custom = (search_choice(mine, p.name) for p in PRESETS)
    assert (fast.beam, fast.temperature) == (1, 0.0), "Fast is greedy"
    assert (balanced.beam, balanced.scorer) == (2, "logprob")
    assert (thorough.beam, thorough.scorer) == (4, "judge")
    assert (custom.beam, custom.scorer, custom.temperature) == (3, "judge", 1.1)
    searched = search_settings(mine, "thorough")
    assert (searched.beam, searched.scorer, searched.max_stage_tokens) == (4, "judge", 99), "the budget stays yours"
    defaults = AppSettings()
    assert defaults.preset == "balanced" and search_choice(defaults) == search_choice(defaults, "custom"), (
        "Balanced is the search StageLens made before presets"
    )


def test_a_settings_file_from_before_presets_gets_the_preset_its_numbers_are(tmp_path):
    path = tmp_path / "settings.json"
    for numbers, expected in (
        ({"beam": 2, "scorer": "logprob", "temperature": 0.6}, "balanced"),
        ({"beam": 4, "scorer": "judge", "temperature": 0.6}, "thorough"),
        ({"beam": 3, "scorer": "logprob", "temperature": 0.6}, "custom"),
        ({}, "balanced"),
    ):
        path.write_text(json.dumps({**numbers, "max_stage_tokens": 50}), encoding="utf-8")
        loaded = load_settings(path)
        assert loaded.preset == expected, numbers
        assert search_choice(loaded).beam == numbers.get("beam", 2), "what was asked before is asked now"
    path.write_text(json.dumps({"beam": 3, "preset": "fast"}), encoding="utf-8")
    assert load_settings(path).preset == "fast" and load_settings(path).beam == 3
    assert preset_named_by(AppSettings(beam=1, temperature=0.0)) == "fast"


def test_the_prior_cost_model():
    assert relative_cost(1, "logprob") == relative_cost(1, "judge") == 1.0
    assert relative_cost(2, "logprob") == pytest.approx(1 + EXTRA_CANDIDATE_COST)
    assert relative_cost(4, "judge") == pytest.approx(1 + 3 * EXTRA_CANDIDATE_COST + 3 * JUDGE_COMPARISON_COST)


def test_the_estimate_is_a_prior_until_measured_then_measured_then_calibrated():
    times = ThinkingTimes()
    model = "model.gguf"
    assert times.estimate(model, BALANCED).source == "prior"
    assert times.estimate(model, BALANCED).ratio == pytest.approx(relative_cost(2, "logprob"))
    times.add(model, BALANCED, 3.0)  # Balanced alone: nothing to compare with yet
    assert times.estimate(model, BALANCED).source == "prior"
    for seconds in (1.0, 1.4, 1.2):  # Fast's median: 1.2
        times.add(model, FAST_KEY, seconds)
    times.add(model, BALANCED, 2.4)  # Balanced's median: (2.4 + 3.0) / 2 = 2.7
    measured = times.estimate(model, BALANCED)
    assert (measured.source, measured.answers) == ("measured", 2) and measured.ratio == pytest.approx(2.7 / 1.2)
    assert times.estimate(model, FAST_KEY).ratio == 1.0 and times.estimate(model, FAST_KEY).source == "measured"
    # Thorough, not measured: its prior's extra cost scaled as Balanced's was
    scale = (2.7 / 1.2 - 1) / (relative_cost(2, "logprob") - 1)
    calibrated = times.estimate(model, THOROUGH)
    assert calibrated.source == "calibrated"
    assert calibrated.ratio == pytest.approx(1 + scale * (relative_cost(4, "judge") - 1))
    # another model knows nothing of these
    assert times.estimate("other.gguf", THOROUGH).source == "prior"
    # only the latest answers count
    for _ in range(20):
        times.add(model, FAST_KEY, 2.0)
    assert times.median(model, FAST_KEY) == 2.0 and times.answers(model, FAST_KEY) == 8
    assert "measured on this model (2 answers)" in measured.explain() and measured.describe() == "2.3×"
    # kept per decode step: a long answer is not a slow search
    per_step = ThinkingTimes()
    per_step.add(model, FAST_KEY, 2.0, steps=40)
    per_step.add(model, BALANCED, 3.0, steps=20)
    assert per_step.median(model, FAST_KEY) == pytest.approx(0.05)
    assert per_step.estimate(model, BALANCED).ratio == pytest.approx((3.0 / 20) / (2.0 / 40))
    per_step.add(model, FAST_KEY, 0.0, steps=10)  # nothing measured: not counted
    per_step.add(model, FAST_KEY, 1.0, steps=0)
    assert per_step.answers(model, FAST_KEY) == 1


def test_presets_in_the_window_search_and_are_timed(make_real, qtbot):
    window = make_real()
    bar = window.preset_bar
    assert bar.buttons["balanced"].isChecked()
    prior = f"~{relative_cost(2, 'logprob'):.1f}× Fast"
    assert "Two candidates" in bar.explanation.text() and prior in bar.explanation.text()
    qtbot.mouseClick(bar.buttons["fast"], Qt.MouseButton.LeftButton)
    assert window.settings.preset == "fast" and bar.buttons["fast"].isChecked()
    fast_turn, _card = ask(qtbot, window, "Fast, please.")
    assert fast_turn.answer.trace.settings["beam"] == 1 and fast_turn.answer.trace.settings["temperature"] == 0.0
    qtbot.mouseClick(bar.buttons["thorough"], Qt.MouseButton.LeftButton)
    turn, card = ask(qtbot, window, "Thoroughly, please.")
    trace = turn.answer.trace
    assert (trace.settings["beam"], trace.settings["scorer"]) == (4, "judge")
    assert all(s.bracket for s in trace.stages if s.complete), "the judge's bracket is in the trace"
    measured = window.session.estimate("thorough")
    assert measured.source == "measured" and measured.answers == 1
    fast_s = window.session.timing.median(window.session.model_key, FAST_KEY)
    thorough_s = window.session.timing.median(window.session.model_key, THOROUGH)
    assert measured.ratio == pytest.approx(thorough_s / fast_s)
    assert measured.describe() in bar.explanation.text(), "the bar shows the measured ratio"
    assert "measured on this model (1 answer)" in bar.buttons["thorough"].toolTip()
    assert window.engine.worker._engine.settings.max_beam >= 4, "loaded once for every preset: no reload to switch"
    shot(window, "14-presets")
    # a narrow window wraps the explanation instead of cutting it off
    window.resize(760, window.height())
    QApplication.processEvents()
    label = bar.explanation
    room = QRect(0, 0, label.contentsRect().width(), 10_000)
    needed = label.fontMetrics().boundingRect(room, Qt.TextFlag.TextWordWrap, label.text())
    assert needed.height() <= label.contentsRect().height(), "the whole explanation is shown"
    # Custom: the numbers in Settings
    window.apply_settings(replace(window.settings, preset="custom", beam=3, scorer="logprob"))
    assert bar.buttons["custom"].isChecked()
    custom, _card = ask(qtbot, window, "My own way.")
    assert custom.answer.trace.settings["beam"] == 3


def test_the_settings_dialog_shows_a_presets_numbers_and_editing_them_makes_custom(make_real, qtbot):
    from stagelens.ui.settings_dialog import SettingsDialog

    window = make_real()
    dialog = SettingsDialog(replace(window.settings, beam=5, scorer="logprob"), window.default_model_name(), window)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentIndex(dialog.preset.findData("thorough"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    assert (dialog.beam.value(), dialog.scorer.currentData()) == (4, "judge")
    assert dialog.preset_hint.text().startswith("Four candidates")
    result = dialog.result_settings()
    assert (result.preset, result.beam) == ("thorough", 5), "a preset leaves Custom's own numbers alone"
    dialog.beam.setValue(6)
    assert dialog.preset.currentData() == "custom"
    assert (dialog.result_settings().preset, dialog.result_settings().beam) == ("custom", 6)
