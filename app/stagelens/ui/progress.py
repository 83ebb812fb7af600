"""What an answer being written says about itself before and between its words: preparing the
image, reading it ("Reading the image (729 tokens)…"), then each stage, each with its time, and how
often a retracing search went back."""

from __future__ import annotations

from stagelens.session import Answer, Turn
from stagelens.ui.stage_panel import format_elapsed


def reading_line(turn: Turn, answer: Answer) -> str:
    """The header line before the first stage begins."""
    reading = answer.reading
    if reading is None:
        return "Preparing the image…" if turn.images else "Starting…"
    if reading.images:
        what = "the image" if reading.images == 1 else f"{reading.images} images"
        return f"Reading {what} ({reading.image_tokens:,} tokens)…"
    if reading.text_tokens:
        return f"Reading your question ({reading.text_tokens:,} tokens)…"
    return "Starting…"


def retrace_note(answer: Answer) -> str:
    """Said after the stage being written once the search has gone back (empty until then)."""
    if not answer.retraces:
        return ""
    times = "once" if answer.retraces == 1 else f"{answer.retraces} times"
    return f"went back {times} to redo a weak stage"


def elapsed_line(answer: Answer, now: float) -> str:
    """The clock at the right of the header: the current step's time, and the whole answer's."""
    total = format_elapsed(now - answer.started_at)
    if answer.stage_started_at:
        return f"{format_elapsed(now - answer.stage_started_at)} · {total} in all"
    if answer.reading is not None:
        return f"{format_elapsed(now - answer.reading.at)} · {total} in all"
    return total
