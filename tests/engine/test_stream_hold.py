"""The stream holds back exactly the bytes a later token could complete into a stage's closing tag
(or a stop), nothing more: text reaches the window at the first decode step, and a closing tag
written across two tokens never shows. Proven on a scripted model (split_close_tag) that writes
CAPTION's closing tag as plain text in two tokens, ' </CAP' then 'TION>'."""

from __future__ import annotations

import pytest

from stagelens.engine import CancelFlag, Engine, LoadSettings, SearchSettings, StageEvent, UserTurn
from stagelens_dev.testmodels.scripted import make_scripted_model
from stagelens_dev.testmodels.scripts import CAPTION_TEXT

GREEDY = SearchSettings(beam=1, temperature=0.0, max_stage_tokens=16)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    files = make_scripted_model("split_close_tag", tmp_path_factory.mktemp("scripted"))
    eng = Engine(LoadSettings(str(files.text), str(files.mmproj), n_ctx=2048, n_threads=1))
    yield eng
    eng.close()


@pytest.fixture
def ask(engine, scene):
    return UserTurn("How many red circles are there?", tuple(engine.prepare_images([scene])))


def caption_texts(events: list[StageEvent]) -> list[str]:
    return [e.text for e in events if e.kind == "text" and e.stage == "caption"]


def test_text_without_a_tag_start_streams_at_once_and_a_split_tag_never_shows(engine, ask):
    events: list[StageEvent] = []
    trace = engine.answer(ask, settings=GREEDY, on_event=events.append, stream_interval_ms=0)
    caption = next(s for s in trace.stages if s.name == "caption")
    assert caption.text == CAPTION_TEXT.strip() and caption.status == "ok"
    texts = caption_texts(events)
    # the first token's text has no '<' in it: nothing of it is held back
    assert texts[0] == CAPTION_TEXT
    # then ' </CAP': the space streams, '</CAP' is held until 'TION>' shows it is the closing tag
    assert texts[1] == " "
    assert "</" not in "".join(texts) and "".join(texts).strip() == caption.text


def test_handler_error_in_the_flush_after_a_cancel_propagates(engine, ask):
    # The handler stops the answer while '</CAP' is held back; the flush after the cancel streams
    # those bytes, and the handler raising there must reach the caller (not be lost in the cancel).
    cancel = CancelFlag()
    seen: list[str] = []

    def on_event(ev: StageEvent) -> None:
        if ev.kind != "text" or ev.stage != "caption":
            return
        if cancel.is_set():
            raise RuntimeError("the window is gone")
        seen.append(ev.text)
        if len(seen) == 2:  # the ' ' before the held '</CAP'
            cancel.set()

    with pytest.raises(RuntimeError, match="the window is gone"):
        engine.answer(ask, settings=GREEDY, on_event=on_event, cancel=cancel, stream_interval_ms=0)
    assert seen == [CAPTION_TEXT, " "]
    cancel.clear()
    assert not engine.answer(ask, settings=GREEDY).cancelled
