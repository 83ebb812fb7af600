"""The search's stage-tag detection (the C code itself), on text that arrives token by token."""

from __future__ import annotations

import pytest

from stagelens.engine.native import _native

OPEN, CLOSE = "<CAPTION>", "</CAPTION>"


def scan(pieces: list[str], forced: bool = True):
    content, saw_open, saw_close, safe, *_ = _native.scan_tags([p.encode() for p in pieces], OPEN, CLOSE, forced)
    return content.decode(), saw_open, saw_close, safe


@pytest.mark.parametrize(
    "pieces",
    [
        [" A red", " circle", "</CAPTION>"],
        [" A red", " circle", "</", "CAP", "TION", ">"],
        [" A red circle<", "/CAPTION", "> and more"],
        [" A red circle</CAPTION>\n\n<REASONING>"],
    ],
)
def test_closing_tag_is_found_across_token_boundaries(pieces):
    content, _, saw_close, _ = scan(pieces)
    assert saw_close
    assert content == " A red circle"


def test_text_after_the_closing_tag_is_not_scanned():
    content, _, saw_close, _ = scan(["x</CAPTION>", "y</CAPTION>"])
    assert saw_close and content == "x"


def test_a_repeated_forced_tag_is_not_duplicated():
    content, saw_open, saw_close, _ = scan(["\n<CAP", "TION>", "two cups", "</CAPTION>"], forced=True)
    assert saw_open and saw_close
    assert content == "two cups"


def test_a_tag_later_in_the_text_is_content_when_forced():
    content, saw_open, _, _ = scan(["the <CAPTION> tag", "</CAPTION>"], forced=True)
    assert not saw_open and content == "the <CAPTION> tag"


def test_unforced_stage_starts_after_the_models_own_tag():
    content, saw_open, saw_close, _ = scan(["Sure. <CAP", "TION> a dog", "</CAPTION>"], forced=False)
    assert saw_open and saw_close and content == " a dog"


def test_a_possible_partial_tag_is_held_back_from_streaming():
    content, _, saw_close, safe = scan([" two", " cups </CAP"])
    assert not saw_close
    assert content == " two cups </CAP"
    # the streamable part never includes the start of what may become the closing tag
    assert not content[:safe].endswith("<") and "</" not in content[:safe]
