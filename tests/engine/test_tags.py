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


# ------------------------------------------------------------------ stops, headings, loops (stage machine)

ALIASES = ("**Caption:**", "## Caption")
STOPS = ("<CAPTION>", "**Caption:**", "<CONCLUSION>", "</REASONING>", "**Conclusion:**")


def machine(pieces: list[str], forced: bool = True):
    content, saw_open, saw_close, safe, stop, closed, kept, repeats = _native.scan_tags(
        [p.encode() for p in pieces], OPEN, CLOSE, forced, ALIASES, STOPS
    )
    return {"content": content.decode(), "open": saw_open, "close": saw_close, "safe": safe,
            "stop": STOPS[stop] if stop >= 0 else None, "closed": closed, "kept": kept, "repeats": repeats}  # fmt: skip


def test_another_stages_tag_ends_the_stage_before_it_and_drops_its_tokens():
    seen = machine([" two", " cups", " <CONC", "LUSION>", " 3"])
    assert seen["closed"] == "stop" and seen["stop"] == "<CONCLUSION>" and seen["content"] == " two cups"
    assert seen["kept"] == 2, "the tokens holding the other tag never reach the conversation"


def test_the_earliest_end_wins():
    assert machine([" a </CAPTION> b <CONCLUSION>"])["closed"] == "tag"
    seen = machine([" a <CONCLUSION> b </CAPTION>"])
    assert seen["closed"] == "stop" and seen["content"] == ""  # the piece holding the stop is dropped whole


def test_openings_written_again_are_swallowed_however_many():
    seen = machine([" <CAPTION>", "\n<CAP", "TION>", " two cups", "</CAPTION>"])
    assert seen["repeats"] == 2 and seen["content"] == " two cups" and seen["close"]


def test_a_heading_instead_of_the_tag_is_swallowed_and_the_next_heading_is_a_stop():
    seen = machine([" **Caption:**", " two cups.", " **Conclusion:**", " 2"])
    assert seen["repeats"] == 1 and seen["content"] == " two cups." and seen["stop"] == "**Conclusion:**"


def test_the_stage_written_again_later_is_a_stop():
    seen = machine([" <CAPTION>", " two cups.", " <CAPTION>", " two cups."])
    assert seen["repeats"] == 1 and seen["stop"] == "<CAPTION>" and seen["content"] == " two cups."


def test_a_possible_heading_at_the_start_is_held_back():
    seen = machine([" **Cap"])
    assert seen["safe"] == 0 and not seen["open"] and seen["closed"] == "running"


def test_an_unforced_stage_may_open_with_a_heading():
    seen = machine(["Sure. ## Caption", " two cups", "</CAPTION>"], forced=False)
    assert seen["open"] and seen["content"] == " two cups"


@pytest.mark.parametrize("period", [1, 3, 8])
def test_a_loop_is_cut_after_its_first_round(period):
    block = [f" w{i}" for i in range(period)]
    seen = machine([" start", *block * 40])
    assert seen["closed"] == "loop" and seen["kept"] == 1 + period
    assert seen["content"] == " start" + "".join(block)


def test_text_that_only_looks_repetitive_is_not_a_loop():
    pieces = [" a", " b", " a", " b", " a", " c"] * 2 + [" d"] * 15  # two rounds; 15 identical tokens
    assert machine(pieces)["closed"] == "running"
    assert machine([*pieces, " d"])["closed"] == "loop"  # the 16th
