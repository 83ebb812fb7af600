"""The native stage-level beam search, driven through stagelens.engine with the tiny model."""

from __future__ import annotations

import json

import pytest
from tests.fixtures.engine import QUESTION, search

from stagelens.engine import STAGE_NAMES, CancelFlag, Trace, UserTurn


@pytest.fixture()
def ask(scene):
    return UserTurn(QUESTION, (scene,))


def test_same_seed_gives_the_same_trace(engine, ask):
    first = engine.answer(ask, settings=search())
    engine.reset_cache()
    second = engine.answer(ask, settings=search())
    strip = lambda t: [(s.name, [(c.text, c.tokens, c.score) for c in s.candidates]) for s in t.stages]  # noqa: E731
    assert strip(first) == strip(second)
    engine.reset_cache()
    other = engine.answer(ask, settings=search(seed=8))
    assert strip(other) != strip(first)


def test_stage_forcing_gives_four_stages_from_random_weights(engine, ask):
    trace = engine.answer(ask, settings=search())
    assert [s.name for s in trace.stages] == list(STAGE_NAMES)
    assert all(s.forced_open and s.complete for s in trace.stages)
    assert all(len(s.candidates) == 4 and sum(c.selected for c in s.candidates) == 1 for s in trace.stages)
    assert trace.conclusion == trace.stages[-1].text
    # the model's turn holds each stage between its tags, in order
    text = trace.assistant_text
    positions = [text.index(f"<{name.upper()}>") for name in STAGE_NAMES]
    assert positions == sorted(positions)
    assert text.rstrip().endswith("</CONCLUSION>")
    # and its ids are exactly what detokenizes to that text
    assert engine._native.detokenize(trace.assistant_tokens, False).decode("utf-8", "replace") == text


def test_logprob_scorer_keeps_the_best_mean_logprob(engine, ask):
    trace = engine.answer(ask, settings=search(scorer="logprob"))
    for stage in trace.stages:
        best = max(stage.candidates, key=lambda c: c.mean_logprob if c.mean_logprob is not None else -1e9)
        assert best.selected
        assert all(c.score == c.mean_logprob for c in stage.candidates)


def test_judge_encodes_the_image_once_and_gives_margins(engine, ask):
    trace = engine.answer(ask, settings=search(scorer="judge"))
    assert trace.stats.image_encodes == 1
    # a knockout of 4 distinct texts is three comparisons; identical candidates are merged first
    assert trace.stats.judge_calls == sum(len(s.candidates) - s.merged - 1 for s in trace.stages)
    for stage in trace.stages:
        winner = next(c for c in stage.candidates if c.selected)
        assert winner.score is not None and winner.score >= 0  # it won its last comparison
        assert all(c.score is not None for c in stage.candidates)


def test_python_scorer_picks_what_it_scores_highest(engine, ask):
    seen = []

    def prefer_shortest(stage: str, candidates: list[dict]) -> list[float]:
        seen.append(stage)
        return [-len(c["text"]) for c in candidates]

    trace = engine.answer(ask, settings=search(scorer="python"), scorer=prefer_shortest)
    assert seen == list(STAGE_NAMES)
    for stage in trace.stages:
        shortest = min(len(c.text) for c in stage.candidates)
        winner = next(c for c in stage.candidates if c.selected)
        assert len(winner.text) == shortest


def test_python_scorer_errors_propagate(engine, ask):
    def broken(stage, candidates):
        raise RuntimeError("verifier is down")

    with pytest.raises(RuntimeError, match="verifier is down"):
        engine.answer(ask, settings=search(scorer="python"), scorer=broken)
    # the engine is still usable afterwards, and the failed answer left the question cached
    again = engine.answer(ask, settings=search(beam=1))
    assert again.conclusion is not None
    assert again.stats.image_encodes == 0 and again.stats.prompt_tokens == 0


def test_cancel_mid_stage_returns_a_partial_trace(engine, ask):
    cancel = CancelFlag()
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.kind == "text" and ev.stage == "caption":
            cancel.set()

    trace = engine.answer(
        ask,
        settings=search(max_stage_tokens=64),
        on_event=on_event,
        cancel=cancel,
        stream_interval_ms=0,
    )
    assert trace.cancelled
    assert [s.name for s in trace.stages] == ["summary", "caption"]
    assert trace.stages[0].complete and not trace.stages[1].complete
    caption = trace.stages[1].candidates
    assert any(c.closed_by == "cancel" for c in caption)
    assert all(c.closed_by in ("cancel", "eos") for c in caption)
    assert any(c.text for c in caption)  # what was produced before the stop is kept
    assert all(c.n_tokens < 64 for c in caption)
    assert trace.conclusion == ""
    # the partial turn is the summary and the caption's opening tag
    assert trace.assistant_text.rstrip().endswith("<CAPTION>")
    # the engine answers the next question normally
    cancel.clear()
    assert not engine.answer(ask, settings=search(beam=1)).cancelled


def test_events_stream_each_stage(engine, ask):
    events = []
    trace = engine.answer(ask, settings=search(beam=2), on_event=events.append)
    kinds = [(e.kind, e.stage) for e in events if e.kind != "text"]
    expected = [("reading", "")] + [(k, s) for s in STAGE_NAMES for k in ("stage_begin", "stage_end")]
    assert kinds == expected
    for stage in trace.stages:
        for i, cand in enumerate(stage.candidates):
            mine = [e for e in events if e.kind == "text" and e.stage == stage.name and e.candidate == i]
            streamed = "".join(e.text for e in mine)
            assert streamed.strip() == cand.text


def test_reference_mode_pays_for_every_candidate(engine, ask):
    batched = engine.answer(ask, settings=search(beam=2, scorer="judge"))
    engine.reset_cache()
    reference = engine.answer(ask, settings=search(beam=2, scorer="judge", mode="reference"))
    assert batched.stats.image_encodes == 1
    # per stage: one re-encode per candidate and one per judge call
    assert reference.stats.image_encodes >= 4 * (2 + 1)
    assert reference.stats.prefill_tokens > 3 * batched.stats.prefill_tokens


def test_cancel_after_the_last_stage_keeps_the_complete_answer(engine, ask):
    cancel = CancelFlag()

    def on_event(ev):
        if ev.kind == "stage_end" and ev.stage == "conclusion":
            cancel.set()  # arrives while the answer's tail is decoded

    trace = engine.answer(ask, settings=search(), on_event=on_event, cancel=cancel)
    assert cancel.is_set()
    assert not trace.cancelled
    assert all(s.complete for s in trace.stages)
    winner = next(c for c in trace.stages[-1].candidates if c.selected)
    assert trace.conclusion == winner.text


def test_other_python_threads_run_during_the_search(engine, ask):
    import sys
    import threading
    import time

    stop = threading.Event()
    count = [0]

    def spin():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0)

    marks = {}

    def on_event(ev):
        if ev.kind == "stage_begin" and ev.stage == "summary":
            marks["begin"] = count[0]
        elif ev.kind == "stage_end" and ev.stage == "conclusion":
            marks["end"] = count[0]

    # no forced switches: the worker runs only when the main thread lets go of the GIL itself
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    worker = threading.Thread(target=spin)
    worker.start()
    try:
        engine.answer(ask, settings=search(max_stage_tokens=24), on_event=on_event, stream_interval_ms=10**6)
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
    assert marks["end"] > marks["begin"]


def test_identical_candidates_are_merged_before_the_judge(engine, ask):
    """At temperature 0 every candidate of a stage samples the same tokens: the judge compares nothing."""
    trace = engine.answer(ask, settings=search(scorer="judge", temperature=0.0))
    assert trace.stats.judge_calls == 0 and trace.stats.judge_tokens == 0
    for stage in trace.stages:
        assert stage.merged == len(stage.candidates) - 1
        assert [c.same_as for c in stage.candidates] == [None] + [0] * stage.merged
        assert stage.candidates[0].selected and len({c.text for c in stage.candidates}) == 1
    again = Trace.from_json(json.loads(trace.dumps()))
    assert [s.merged for s in again.stages] == [s.merged for s in trace.stages]
    assert again.stages[0].candidates[1].same_as == 0


def test_merging_keeps_only_distinct_texts_in_the_knockout(engine, ask):
    trace = engine.answer(ask, settings=search(scorer="judge", temperature=1.5, beam=4))
    for stage in trace.stages:
        firsts = [c for c in stage.candidates if c.same_as is None]
        assert len(firsts) == len(stage.candidates) - stage.merged
        assert len({c.text for c in firsts}) == len(firsts), "no two candidates judged wrote the same text"
        for c in stage.candidates:
            if c.same_as is not None:
                first = stage.candidates[c.same_as]
                assert first.same_as is None and first.text == c.text and c.score == first.score
                assert not c.selected
    assert trace.stats.judge_calls == sum(len(s.candidates) - s.merged - 1 for s in trace.stages)


def test_each_width_counts_the_kv_cells_its_steps_attended_to(engine, ask):
    # the bench times the ceiling at these depths: a step attends to the trunk (the prompt at least)
    # and to every candidate's own cells, which are never more than everything the answer wrote
    for beam in (1, 4):
        engine.reset_cache()
        stats = engine.answer(ask, settings=search(beam=beam)).stats
        assert len(stats.cells_by_width) == len(stats.steps_by_width)
        written = stats.prompt_tokens + stats.prefill_tokens + stats.decode_tokens
        for width, (steps, cells) in enumerate(zip(stats.steps_by_width, stats.cells_by_width, strict=True)):
            if steps:
                assert stats.prompt_tokens + width <= cells <= written, (beam, width, cells)
            else:
                assert cells == 0
        if beam == 4:
            beyond_prompt = stats.cells_by_width[4] - stats.prompt_tokens
            assert beyond_prompt > 4 * 4, "the stages kept and four candidates' own cells count"
