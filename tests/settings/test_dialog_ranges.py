"""The Settings dialog offers exactly the window's ranges and choices from the table."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from stagelens.settings import AppSettings, setting  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402


def test_spin_boxes_and_the_scorer_list_come_from_the_table(qtbot) -> None:
    dialog = SettingsDialog(AppSettings(), "Demo model")
    qtbot.addWidget(dialog)
    spins = {
        "beam": dialog.beam,
        "max_stage_tokens": dialog.stage_tokens,
        "n_gpu_layers": dialog.gpu_layers,
        "n_threads": dialog.threads,
        "n_ctx": dialog.n_ctx,
        "image_max_side": dialog.image_side,
    }
    for name, spin in spins.items():
        assert (spin.minimum(), spin.maximum()) == setting(name).int_bounds("window"), name
    assert (dialog.temperature.minimum(), dialog.temperature.maximum()) == setting("temperature").float_bounds()
    scorer = setting("scorer")
    offered = [dialog.scorer.itemData(i) for i in range(dialog.scorer.count())]
    assert offered == list(scorer.choices)
    assert [dialog.scorer.itemText(i) for i in range(dialog.scorer.count())] == list(scorer.choice_labels)


def test_the_dialog_gives_back_what_it_was_given_and_restores_the_tables_defaults(qtbot) -> None:
    chosen = AppSettings(beam=16, scorer="judge", temperature=1.25, max_stage_tokens=4096, n_ctx=512, image_max_side=64)
    dialog = SettingsDialog(chosen, "Demo model")
    qtbot.addWidget(dialog)
    assert dialog.result_settings() == chosen
    dialog._restore()
    assert dialog.result_settings() == AppSettings()
