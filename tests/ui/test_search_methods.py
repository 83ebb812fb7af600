"""Retracing and best-of-N in the window: chosen in Settings as the Custom preset's numbers, run by
the real engine on its thread, and shown by the inspector (the tree and the table): the branches a
retrace discarded greyed and labelled, best-of-N's whole answers with their scores and the one kept."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from tests.fixtures.qt_window import SHOTS, ask, shot  # noqa: E402
from tests.ui.test_search_tree import open_inspector  # noqa: E402

from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.settings_dialog import SettingsDialog  # noqa: E402
from stagelens_dev.testmodels.scripted import make_scripted_model  # noqa: E402


def test_a_retraced_answer_shows_its_discarded_branches(window_with, qtbot, tmp_path):
    files = make_scripted_model("unsure_caption", tmp_path / "models")
    window = window_with(files.text, files.mmproj, preset="custom", beam=2, retrace=2)
    headers: list[str] = []

    def watch(kind: str, stage: str) -> None:
        headers.append(window._card_for(window.conversation.turns[-1]).panel.header.text())

    window.live_updated.connect(watch)
    turn, card = ask(qtbot, window, "How many red circles are there?")
    window.live_updated.disconnect(watch)
    assert any(h.endswith("· went back once to redo a weak stage") for h in headers)
    trace = turn.answer.trace
    assert [(r.stage, r.resampled) for r in trace.retraces] == [("caption", "summary")] * 2
    assert trace.conclusion == "3"
    inspector = open_inspector(qtbot, card)
    layout = inspector.search_view.layout_
    assert [len(nodes) for nodes in layout.retraced] == [4, 4]  # two stages of two candidates each
    assert all(node.retired for nodes in layout.retraced for node in nodes)
    assert sorted(layout.nodes) == sorted((s.name, i) for s in trace.stages for i in range(2))
    assert "discarded by a retrace" in layout.retraced[0][2].toolTip()
    window.conversation_view.ensureWidgetVisible(inspector)
    shot(window, "search-retraced")
    inspector.export_to(SHOTS / "search-retraced-tree.png")
    inspector.tabs.setCurrentIndex(1)
    titles = [row[0] for row in inspector.candidate_rows()]
    assert titles[4].startswith("Retrace 1 — the best Caption scored") and "Summary was sampled again" in titles[4]
    assert len(titles) == 6 and [row[1] for row in inspector.candidate_rows()][4:] == [2, 2]
    shot(inspector, "search-retraced-table")


def test_best_of_n_shows_whole_answers_and_the_one_kept(window_with, tiny_model, qtbot):
    window = window_with(tiny_model.text, tiny_model.mmproj, preset="custom", best_of=3, scorer="judge")
    turn, card = ask(qtbot, window)
    trace = turn.answer.trace
    assert trace.settings["best_of"] == 3 and trace.settings["scorer"] == "judge"  # the judge ranks the answers
    assert len(trace.answers) == 3 and trace.stats.judge_calls == len(trace.answer_bracket)
    kept = next(a for a in trace.answers if a.selected)
    inspector = open_inspector(qtbot, card)
    layout = inspector.search_view.layout_
    assert [name for name, _ in layout.path] == [s.name for s in trace.stages]
    assert all(i == kept.index for _, i in layout.path), "the path is one whole answer"
    assert len(layout.answer_labels) == 3 and sum("★" in label for label in layout.answer_labels) == 1
    window.conversation_view.ensureWidgetVisible(inspector)
    shot(window, "search-best-of")
    inspector.export_to(SHOTS / "search-best-of-tree.png")  # the whole drawing, the answers' scores at its end
    inspector.tabs.setCurrentIndex(1)
    rows = inspector.candidate_rows()
    assert rows[-1][0] == f"Best of 3 whole answers — answer #{kept.index + 1} kept" and rows[-1][1:] == (3, True)
    # the stages keep their log-probabilities; the judge ranked only the whole answers
    assert inspector.tree.headerItem().text(1) == "Score (mean log-prob per stage, judge margin per answer)"


def test_retracing_and_best_of_are_the_custom_presets_choices(qtbot):
    dialog = SettingsDialog(AppSettings(preset="balanced"), "the demo model")
    qtbot.addWidget(dialog)
    assert (dialog.retrace.value(), dialog.best_of.value()) == (0, 1)
    assert dialog.best_of.specialValueText().startswith("Off")
    dialog.best_of.setValue(4)
    assert dialog.chosen_preset() == "custom"
    dialog.retrace.setValue(2)
    chosen = dialog.result_settings()
    assert (chosen.preset, chosen.best_of, chosen.retrace) == ("custom", 4, 2)
    dialog.preset.setCurrentIndex(dialog.preset.findData("fast"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    assert (dialog.retrace.value(), dialog.best_of.value()) == (0, 1)  # the named presets search plainly
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    assert (dialog.retrace.value(), dialog.best_of.value()) == (2, 4)
