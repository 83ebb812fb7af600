"""The format instruction in Settings: shown, edited, reset to StageLens's text, and saved."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("PySide6")

from stagelens.session.effective import search_settings_for  # noqa: E402
from stagelens.settings import FORMAT_INSTRUCTION, AppSettings  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402


def test_the_format_instruction_is_edited_reset_and_given_back(qtbot):
    dialog = SettingsDialog(replace(AppSettings(), format_instruction="Answer in stages, please."), "Demo model")
    qtbot.addWidget(dialog)
    assert dialog.format_instruction.toPlainText() == "Answer in stages, please."
    dialog.format_instruction.setPlainText("Line one.\nLine two.")
    assert dialog.result_settings().format_instruction == "Line one.\nLine two."
    dialog.reset_instruction.click()
    assert dialog.format_instruction.toPlainText() == FORMAT_INSTRUCTION
    dialog.format_instruction.setPlainText("")
    chosen = dialog.result_settings()
    assert chosen.format_instruction == "" and chosen.validated() == chosen  # empty: tell nothing
    assert search_settings_for(chosen).format_instruction == ""  # the next question is asked with it
    dialog._restore()
    assert dialog.result_settings().format_instruction == FORMAT_INSTRUCTION
