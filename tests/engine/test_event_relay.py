"""The native events as Python events: UTF-8 decoded per candidate across flushes, and a character
a stage never finished given as U+FFFD before the stage ends (as the trace has it)."""

from __future__ import annotations

from stagelens.engine import native
from stagelens.engine.events import EventRelay, StageEvent


def test_text_is_decoded_across_flushes_and_a_cut_character_ends_its_stage():
    seen: list[StageEvent] = []
    relay = EventRelay(["summary", "caption"], seen.append)
    euro = "€".encode()
    relay(native.EVENT_STAGE_BEGIN, 0, 2, None)
    relay(native.EVENT_TEXT, 0, 0, b"a" + euro[:1])
    relay(native.EVENT_TEXT, 0, 0, euro[1:] + b"b" + euro[:2])  # the stage ends inside a character
    relay(native.EVENT_TEXT, 0, 1, b"ok")
    relay(native.EVENT_STAGE_END, 0, 0, None)
    relay(native.EVENT_TEXT, 1, 0, b"next")
    got = [(e.kind, e.stage, e.candidate, e.text) for e in seen]
    assert got == [
        ("stage_begin", "summary", 2, ""),
        ("text", "summary", 0, "a"),
        ("text", "summary", 0, "€b"),
        ("text", "summary", 1, "ok"),
        ("text", "summary", 0, "\ufffd"),
        ("stage_end", "summary", 0, ""),
        ("text", "caption", 0, "next"),
    ]
