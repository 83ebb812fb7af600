"""The search tree in the inspector: stages in order, each stage's candidates with their scores, the
judge's pairings with margins, the path that won; hover text, click for the full text, zoom, and
export as PNG and SVG. The table stays as the second tab."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from tests.fixtures.qt_window import ask, shot  # noqa: E402
from tests.fixtures.traces import judged_trace  # noqa: E402

from stagelens.engine import Trace  # noqa: E402
from stagelens.ui.search_tree import CandidateNode  # noqa: E402


def open_inspector(qtbot, card):
    qtbot.mouseClick(card.inspector_button, Qt.MouseButton.LeftButton)
    assert card.inspector.isVisible() and card.inspector.tabs.currentIndex() == 0, "the tree is the first tab"
    return card.inspector


def drawn_margins(trace: Trace) -> list[tuple[str, int, int, float]]:
    return [(s.name, p.a, p.b, p.margin) for s in trace.stages for p in s.bracket]


def test_the_search_tree_of_a_judged_answer(make_scripted, qtbot, tmp_path):
    window, _runner = make_scripted([judged_trace()], preset="thorough")
    turn, card = ask(qtbot, window, "Which shape is largest?")
    trace = turn.answer.trace
    inspector = open_inspector(qtbot, card)
    view = inspector.search_view
    layout = view.layout_
    assert [name for name, _ in layout.path] == [s.name for s in trace.stages], "every stage, in order"
    assert all(i == 2 for _, i in layout.path), "the path goes through each stage's winner"
    assert sorted(layout.nodes) == sorted((s.name, i) for s in trace.stages for i in range(4))
    assert sorted(layout.margins) == sorted(drawn_margins(trace)), "every comparison of the knockout, with its margin"
    xs = [layout.nodes[(s.name, 0)].pos().x() for s in trace.stages]
    assert xs == sorted(xs), "stages left to right"
    node = layout.nodes[("caption", 1)]
    assert "score +0.400" in node.toolTip() and trace.stages[1].candidates[1].text in node.toolTip()
    # a click on a node shows its full text
    target = view.mapFromScene(node.sceneBoundingRect().center())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert inspector.detail.toPlainText() == trace.stages[1].candidates[1].text
    # zoom
    before = view.scale_now()
    qtbot.mouseClick(inspector.zoom_in, Qt.MouseButton.LeftButton)
    assert view.scale_now() == pytest.approx(before * 1.2)
    qtbot.mouseClick(inspector.zoom_out, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(inspector.zoom_out, Qt.MouseButton.LeftButton)
    assert view.scale_now() == pytest.approx(before / 1.2)
    qtbot.mouseClick(inspector.zoom_fit, Qt.MouseButton.LeftButton)
    assert view.scale_now() == pytest.approx(before)
    window.conversation_view.ensureWidgetVisible(inspector)
    shot(window, "15-search-tree")
    # export
    png, svg = tmp_path / "tree.png", tmp_path / "tree.svg"
    inspector.export_to(png)
    inspector.export_to(svg)
    image = QImage(str(png))
    scene = view.scene().sceneRect()
    assert not image.isNull() and image.width() == int(scene.width() * 2)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and "Caption" in svg.read_text(encoding="utf-8")
    # the table is still there, as the second tab
    inspector.tabs.setCurrentIndex(1)
    assert [r[1] for r in inspector.candidate_rows()] == [4, 4, 4, 4]
    inspector.tree.setCurrentItem(inspector.tree.topLevelItem(2).child(3))
    assert inspector.detail.toPlainText() == trace.stages[2].candidates[3].text


def test_the_export_dialog_writes_the_format_chosen(make_scripted, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window, _runner = make_scripted([judged_trace()])
    _turn, card = ask(qtbot, window)
    inspector = open_inspector(qtbot, card)
    target = tmp_path / "chosen"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(target), "SVG drawing (*.svg)"))
    )
    qtbot.mouseClick(inspector.export_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "chosen.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_a_real_judged_search_is_drawn_from_its_trace(make_real, qtbot):
    window = make_real(preset="thorough")
    turn, card = ask(qtbot, window, "Judge these.")
    trace = turn.answer.trace
    assert trace.settings["scorer"] == "judge"
    for stage in trace.stages:
        distinct = len(stage.candidates) - stage.merged  # identical candidates are merged before the judge
        assert len(stage.bracket) == distinct - 1, "a knockout of n candidates is n - 1 comparisons"
        if stage.bracket:
            assert stage.bracket[-1].winner == next(i for i, c in enumerate(stage.candidates) if c.selected)
            assert {p.round for p in stage.bracket} == set(range((distinct - 1).bit_length()))
    inspector = open_inspector(qtbot, card)
    assert sorted(inspector.search_view.layout_.margins) == sorted(drawn_margins(trace))
    nodes = [item for item in inspector.search_view.scene().items() if isinstance(item, CandidateNode)]
    assert len(nodes) == sum(len(s.candidates) for s in trace.stages)
