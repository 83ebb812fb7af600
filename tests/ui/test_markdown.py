"""Markdown in the window: the conclusion and every stage rendered (CommonMark + GitHub tables, code
blocks with a Copy button), safely (nothing loaded, no HTML run, links copied and never opened),
streamed without flicker or a lost scroll position, copied as Markdown or plain text, exported as
Markdown; model bytes that are not text (random weights write NUL and control bytes) survive."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PySide6.QtCore import QEvent, QObject, Qt  # noqa: E402
from PySide6.QtGui import QDesktopServices, QGuiApplication, QTextCursor, QTextTable  # noqa: E402
from tests.fixtures.qt_window import ask, shot  # noqa: E402
from tests.fixtures.traces import MARKDOWN_ANSWER, STAGE_TEXTS, markdown_trace  # noqa: E402

from stagelens.ui.guard import last_errors  # noqa: E402
from stagelens.ui.markdown import plain_text  # noqa: E402
from stagelens.ui.markdown_source import MAX_QUOTE_DEPTH, REPLACEMENT, clean, tail  # noqa: E402
from stagelens.ui.markdown_view import MarkdownView  # noqa: E402


def tables(view: MarkdownView) -> list[QTextTable]:
    return [f for f in view.document().rootFrame().childFrames() if isinstance(f, QTextTable)]


def headings(view: MarkdownView) -> list[str]:
    block, found = view.document().begin(), []
    while block.isValid():
        if block.blockFormat().headingLevel():
            found.append(block.text())
        block = block.next()
    return found


def test_a_markdown_answer_is_rendered_safely_in_the_window(make_scripted, qtbot, monkeypatch):
    opened: list[object] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    window, _runner = make_scripted([markdown_trace()], reasoning_expanded=True)
    turn, card = ask(qtbot, window)
    view = card.conclusion
    assert view.text() == MARKDOWN_ANSWER
    assert headings(view) == ["Shapes found"]
    code = [b for b in view.code_blocks]
    assert [b.language for b in code] == ["python"] and code[0].text.startswith('count = {"circle"')
    data_tables = [t for t in tables(view) if all(t is not b.table for b in code)]
    assert len(data_tables) == 1 and (data_tables[0].rows(), data_tables[0].columns()) == (3, 3)
    text = view.document().toPlainText()
    assert '<script>alert("no")</script>' in text, "raw HTML is shown as text, never run"
    assert "[image: a picture]" in text and "\ufffc" not in text, "images become their alt text"
    assert all(not f.isImageFormat() for f in _char_formats(view)), "no image is left in the document"
    # the stages are Markdown too: the caption's list, the reasoning's numbered list
    assert [s.name for s in card.panel.sections] == list(STAGE_TEXTS)
    caption = card.panel.sections[1].body
    assert caption.document().begin().textList() is not None
    assert "count" in card.panel.sections[0].body.plain_text() and "**" not in card.panel.sections[0].body.plain_text()

    # Copy: Markdown; Copy as plain text: what it reads as; a code block's own Copy: its code
    qtbot.mouseClick(card.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == MARKDOWN_ANSWER
    card.answer_actions.copy_plain_action.trigger()
    plain = QGuiApplication.clipboard().text()
    assert "Shape\tCount\tColour" in plain and "**" not in plain and "```" not in plain and "• left" in plain
    copy_code = view.copy_buttons[0]
    assert copy_code.isVisible() and copy_code.accessibleName() == "Copy python code"
    qtbot.mouseClick(copy_code, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == code[0].text and copy_code.text() == "Copied"

    # a link is copied when clicked, never opened (StageLens fetches nothing)
    window.conversation_view.ensureWidgetVisible(view, 0, 400)
    found = view.document().find("the docs")
    point = view.cursorRect(_at(view, found.selectionStart() + 2)).center()
    with qtbot.waitSignal(view.link_copied, timeout=5000):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert QGuiApplication.clipboard().text() == "https://example.com/shapes" and not opened
    qtbot.wait(50)
    shot(window, "12-markdown-answer")


def _at(view: MarkdownView, position: int) -> QTextCursor:
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    return cursor


def _char_formats(view: MarkdownView):
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            yield it.fragment().charFormat()
            it += 1
        block = block.next()


SHARP_EDGES = ["\x00", "\x1b[31m", "\ud800", "\x7f", "```", "|", "|---|", ">", "**", "<b>", "![x](y)", "\n", "    "]


class PaintWatch(QObject):
    """Records, for every paint of a text view, whether its document was empty then."""

    def __init__(self, view: MarkdownView) -> None:
        super().__init__(view)
        self.view = view
        self.empty_paints: list[bool] = []
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.empty_paints.append(self.view.document().isEmpty())
        return False


def test_streaming_markdown_neither_flickers_nor_loses_the_scroll_position(make_scripted, qtbot):
    long_answer = MARKDOWN_ANSWER + "\n\n" + "\n\n".join(f"Paragraph {i}: " + "more words " * 12 for i in range(8))
    window, runner = make_scripted([markdown_trace(conclusion=long_answer)], piece=4)
    ask(qtbot, window, "First question")  # something above to scroll back to
    bar = window.conversation_view.verticalScrollBar()
    seen: dict[str, object] = {"scrolled": False, "kept": [], "watch": None, "renders": 0, "updates": 0}

    tails: list[str] = []

    def on_update(kind: str, stage: str) -> None:
        card = window._card_for(window.conversation.turns[-1])
        if stage == "reasoning" and kind == "text":
            qtbot.wait(1)
            tails.append(card.panel.live_label.plain_text())  # the end of the stage being written, rendered
        if stage != "conclusion" or kind != "text":
            return
        seen["updates"] = int(seen["updates"]) + 1
        if seen["watch"] is None:
            seen["watch"] = PaintWatch(card.conclusion)
        text_so_far = window.conversation.turns[-1].answer.conclusion
        if not seen["scrolled"] and len(text_so_far) > 200:
            bar.setValue(bar.maximum() // 3)  # the user scrolls up to read while it writes
            seen["scrolled"] = bar.value()
        elif seen["scrolled"]:
            seen["kept"].append(bar.value())  # type: ignore[union-attr]
        qtbot.wait(1)  # let it paint

    window.live_updated.connect(on_update)
    turn, card = ask(qtbot, window, "Second question")
    window.live_updated.disconnect(on_update)
    assert seen["scrolled"] and seen["kept"], "the answer streamed after the user scrolled"
    assert set(seen["kept"]) == {seen["scrolled"]}, "the view stays where the user scrolled to"
    watch = seen["watch"]
    assert isinstance(watch, PaintWatch) and len(watch.empty_paints) > 3
    first_full = watch.empty_paints.index(False)
    assert not any(watch.empty_paints[first_full:]), "once text was shown, no paint showed it empty"
    assert card.conclusion.renders <= int(seen["updates"]) + 2, "no render beyond one per update"
    assert card.conclusion.text() == long_answer == turn.answer.trace.conclusion
    assert any("Circles: 2" in t for t in tails) and "**" not in tails[-1], "the live stage shows as Markdown"

    # not scrolled up: the view follows the answer to its end
    ask(qtbot, window, "Third question")
    assert bar.value() == bar.maximum()


def test_export_keeps_the_markdown(make_scripted, qtbot, tmp_path):
    window, _runner = make_scripted([markdown_trace()])
    turn, _card = ask(qtbot, window)
    window.export_to(tmp_path / "chat.md", "md")
    window.export_to(tmp_path / "chat.json", "json")
    exported = (tmp_path / "chat.md").read_text(encoding="utf-8")
    for line in ("| circle |     2 | red    |", "```python", "print(sum(count.values()))", "**three**"):
        assert line in exported
    for text in STAGE_TEXTS.values():
        assert text in exported
    data = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    assert data["turns"][0]["answers"][0]["trace"]["conclusion"] == MARKDOWN_ANSWER


def test_random_weights_output_shows_in_the_window(make_real, qtbot):
    """The tiny model's random bytes (control characters, broken UTF-8) in the real window."""
    window = make_real(preset="custom", beam=1, temperature=2.0, max_stage_tokens=40)
    before = len(last_errors())
    turn, card = ask(qtbot, window, "Say anything at all.")
    assert turn.answer.trace is not None and last_errors()[before:] == []
    shown = card.conclusion.plain_text() + "".join(s.body.plain_text() for s in card.panel.sections)
    assert shown and not any(ord(c) < 32 and c not in "\t\n" for c in shown)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(SHARP_EDGES)), max_size=60).map("".join))
def test_any_text_renders(qapp, text):
    """Whatever a model writes (control bytes, lone surrogates, half a table or fence) renders."""
    view = MarkdownView(None)
    view.resize(400, 100)
    view.set_markdown(text)
    rendered = view.plain_text()
    assert "\x00" not in rendered and all(not (0xD800 <= ord(c) <= 0xDFFF) for c in rendered)
    assert "\x00" not in plain_text(text)


def test_the_source_is_cleaned_but_not_changed():
    assert clean("a\x00b\x07c\td\r\ne") == f"a{REPLACEMENT}b{REPLACEMENT}c\td\ne"
    assert clean("**bold** <b>x</b>\n> quote") == "**bold** <b>x</b>\n> quote"
    deep = clean(">" * 5000 + " deep")
    assert deep == ">" * MAX_QUOTE_DEPTH + " deep"
    nested = clean("- " + "> " * 11 + "x")
    assert nested.count(">") == MAX_QUOTE_DEPTH and nested.startswith("- > ") and nested.endswith("x")


def test_the_live_tail_starts_at_a_line_and_reopens_a_cut_code_block():
    text = "intro line\n```python\n" + "\n".join(f"x{i} = {i}" for i in range(80)) + "\n"
    cut = tail(text, 60)
    assert cut.startswith("```\n") and cut.endswith("x79 = 79") and len(cut) <= 64
    assert tail("short", 60) == "short"
    words = tail("word " * 100, 30)
    assert words.startswith("…") and "  " not in words
