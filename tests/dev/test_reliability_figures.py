"""The script that measures the README's reliability figures runs and reports each figure."""

from __future__ import annotations

import json

from stagelens_dev.benchmarks import reliability_figures


def test_the_history_figures_are_measured(capsys):
    assert reliability_figures.main(["--conversations", "20", "--runs", "1", "--history-only"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert history["conversations"] == 20 and history["partial_save_kb"] > 10
    assert 0 < history["open_ms_median"] < 2000 and 0 < history["partial_save_ms_worst_of_50"] < 2000
    assert 2.9 < history["open_when_locked_for_reading_gives_up_after_s"] < 10, "it waited for the lock"
