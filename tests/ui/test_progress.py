"""Before the first word: "Reading the image (n tokens)…", then each stage, each with its time so
far, in the real window (the engine says what it reads before the search starts)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from tests.fixtures.qt_window import TIMEOUT_MS, ask, shot, wait_images  # noqa: E402
from tests.fixtures.scripted_runner import IMAGE_TOKENS  # noqa: E402
from tests.fixtures.traces import markdown_trace  # noqa: E402

from stagelens.session import Answer, Turn  # noqa: E402
from stagelens.session.conversation import Reading  # noqa: E402
from stagelens.ui.progress import elapsed_line, reading_line, retrace_note  # noqa: E402
from stagelens.ui.stage_panel import format_elapsed  # noqa: E402


def test_the_progress_lines():
    turn = Turn("q", [object()])  # type: ignore[list-item]
    answer = Answer(live=True, started_at=100.0)
    assert reading_line(turn, answer) == "Preparing the image…"
    assert reading_line(Turn("q", []), answer) == "Starting…"
    answer.reading = Reading(1, 1234, 20, 101.0)
    assert reading_line(turn, answer) == "Reading the image (1,234 tokens)…"
    answer.reading = Reading(2, 512, 20, 101.0)
    assert reading_line(turn, answer) == "Reading 2 images (512 tokens)…"
    answer.reading = Reading(0, 0, 37, 101.0)
    assert reading_line(turn, answer) == "Reading your question (37 tokens)…"
    assert elapsed_line(answer, 103.5) == "2.5 s · 3.5 s in all"
    answer.stage_started_at = 110.0
    assert elapsed_line(answer, 175.0) == "1 min 05 s · 1 min 15 s in all"
    assert format_elapsed(0.04) == "0.0 s" and format_elapsed(12.6) == "13 s" and format_elapsed(-1) == "0.0 s"


def test_a_retrace_is_counted_and_said_while_the_answer_is_written():
    answer = Answer(live=True)
    answer.on_event("stage_begin", "summary", 2, "")
    answer.on_event("text", "summary", 0, "Find it.")
    answer.on_event("stage_end", "summary", 0, "")
    answer.on_event("stage_begin", "caption", 2, "")
    answer.on_event("text", "caption", 1, "A red")
    assert retrace_note(answer) == ""
    answer.on_event("retrace", "summary", 0, "")
    assert answer.retraces == 1 and answer.live_text("summary") == "" and answer.live_text("caption") == ""
    assert retrace_note(answer) == "went back once to redo a weak stage"
    answer.on_event("retrace", "summary", 0, "")
    assert retrace_note(answer) == "went back 2 times to redo a weak stage"


def test_reading_the_image_then_each_stage_with_its_time(make_scripted, qtbot, scene_path):
    window, runner = make_scripted([markdown_trace()])
    runner.hold = True  # the scripted model stops after saying what it reads
    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    window.ask("How many shapes are there?")
    card = window._card_for(window.conversation.turns[-1])
    header = card.panel.header
    expected = f"Reading the image ({IMAGE_TOKENS:,} tokens)…"
    qtbot.waitUntil(lambda: header.text() == expected, timeout=TIMEOUT_MS)
    assert card.panel.elapsed.isVisible() and not card.conclusion.isVisible()
    first = card.panel.elapsed.text()
    qtbot.waitUntil(lambda: card.panel.elapsed.text() != first, timeout=5000)  # the clock runs
    assert card.panel.elapsed.text().endswith("in all")
    shot(window, "16-reading-the-image")
    seen: list[str] = []
    window.live_updated.connect(lambda kind, stage: seen.append(header.text()))
    runner.release()
    qtbot.waitUntil(lambda: window.running is None, timeout=TIMEOUT_MS)
    for step in ("Thinking · step 1 of 3: Summary…", "Thinking · step 2 of 3: Caption…"):
        assert step in seen
    assert seen.index("Thinking · step 1 of 3: Summary…") < seen.index("Thinking · step 2 of 3: Caption…")
    assert not card.panel.elapsed.isVisible() and header.text().startswith("Reasoned in")


def test_the_real_engine_says_what_it_reads_before_the_search(make_real, qtbot, scene_path):
    window = make_real()
    window.add_image_paths([scene_path])
    wait_images(qtbot, window)
    first: list[tuple[str, str]] = []

    def watch(kind: str, stage: str) -> None:
        if not first:
            card = window._card_for(window.conversation.turns[-1])
            first.append((kind, card.panel.header.text()))

    window.live_updated.connect(watch)
    turn, _card = ask(qtbot, window, "What is this?")
    window.live_updated.disconnect(watch)
    reading = turn.answer.reading
    assert reading is not None and reading.images == 1 and reading.image_tokens > 0
    assert first == [("reading", f"Reading the image ({reading.image_tokens:,} tokens)…")]
    assert reading.at <= turn.answer.thinking_started_at, "it comes before the first stage"
    follow_up, _card = ask(qtbot, window, "And the colours?")
    assert follow_up.answer.reading.images == 0 and follow_up.answer.reading.text_tokens > 0
