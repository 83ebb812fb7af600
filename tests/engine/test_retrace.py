"""Retracing search: a stage whose best candidate is poor sends the search back one stage, which is
sampled again with new seeds, at most `retrace` times per answer; the trunk is cut back natively
(nothing is read again) and the trace records every retrace with what it discarded."""

from __future__ import annotations

import dataclasses

import pytest
from tests.fixtures.engine import (
    FOLLOW_UP,
    GREEDY,
    QUESTION,
    assert_kv_is_the_trunk,
    assert_same_greedy,
    past,
    search,
    stage_tokens,
)

from stagelens.engine import Engine, LoadSettings, SearchSettings, Trace, UserTurn
from stagelens_dev.testmodels.scripted import make_scripted_model

SCRIPTED = SearchSettings(beam=2, max_stage_tokens=16, seed=3)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrace-models")
    engines: dict[str, Engine] = {}

    def engine(name: str) -> Engine:
        if name not in engines:
            files = make_scripted_model(name, root)
            engines[name] = Engine(LoadSettings(str(files.text), str(files.mmproj), n_ctx=4096, n_threads=1))
        engines[name].reset_cache()
        return engines[name]

    yield engine
    for eng in engines.values():
        eng.close()


def _shape(trace: Trace) -> list:
    """The stages without their timings."""
    return [
        (s.name, s.text, s.status, [(c.text, c.tokens, c.mean_logprob, c.selected) for c in s.candidates])
        for s in trace.stages
    ]


def _in_order(runs: list[list[int]], tokens: list[int]) -> bool:
    """Each run appears in `tokens` as a contiguous slice, after the one before."""
    at = 0
    for run in runs:
        found = next((i for i in range(at, len(tokens) - len(run) + 1) if tokens[i : i + len(run)] == run), None)
        if found is None:
            return False
        at = found + len(run)
    return True


def _winner_logprob(trace_stage) -> float:
    return next(c for c in trace_stage.candidates if c.selected).mean_logprob or 0.0


@pytest.mark.parametrize("k", [1, 3])
def test_an_unsure_stage_is_retraced_exactly_k_times(scripted, scene, k):
    eng = scripted("unsure_caption")  # CAPTION's tokens after its first cost ~log(vocabulary) nats each
    plain = eng.answer(UserTurn(QUESTION, (scene,)), settings=SCRIPTED)
    eng.reset_cache()
    trace = eng.answer(UserTurn(QUESTION, (scene,)), settings=dataclasses.replace(SCRIPTED, retrace=k))
    assert plain.retraces == [] and len(trace.retraces) == k  # the caption never gets better: K is the limit
    for r in trace.retraces:
        assert (r.stage, r.resampled) == ("caption", "summary")
        summary, caption = r.discarded
        assert (summary.name, caption.name) == ("summary", "caption")
        assert r.threshold == pytest.approx(_winner_logprob(summary) - SCRIPTED.retrace_margin, abs=1e-6)
        assert r.best == pytest.approx(_winner_logprob(caption), abs=1e-6) and r.best < r.threshold
        assert len(caption.candidates) == 2 and all(c.text.startswith("Maybe") for c in caption.candidates)
    # new seeds each time: the retraced captions are not the first ones again
    assert trace.retraces[0].discarded[1].candidates[0].text == plain.stages[1].candidates[0].text
    assert trace.stage("caption").candidates[0].text != plain.stage("caption").candidates[0].text
    # nothing read again: one image encode, the same prompt tokens, the answer whole
    assert trace.stats.image_encodes == 1 and trace.stats.prompt_tokens == plain.stats.prompt_tokens
    assert [s.status for s in trace.stages][2:] == ["ok", "ok"] and trace.conclusion == "3"
    assert trace.stats.decode_tokens > plain.stats.decode_tokens


def test_a_sure_model_is_never_retraced_and_answers_as_without(scripted, scene):
    eng = scripted("well_behaved")
    plain = eng.answer(UserTurn(QUESTION, (scene,)), settings=SCRIPTED)
    eng.reset_cache()
    trace = eng.answer(UserTurn(QUESTION, (scene,)), settings=dataclasses.replace(SCRIPTED, retrace=3))
    assert trace.retraces == []
    assert _shape(trace) == _shape(plain) and trace.assistant_tokens == plain.assistant_tokens


def test_no_retrace_path_is_unchanged_on_random_weights(engine, scene):
    turn = UserTurn(QUESTION, (scene,))
    plain = engine.answer(turn, settings=search(beam=3))
    engine.reset_cache()
    never = engine.answer(turn, settings=search(beam=3, retrace=4, retrace_margin=1e9))  # nothing is ever poor
    assert (
        never.retraces == []
        and _shape(never) == _shape(plain)
        and never.stats.decode_tokens == plain.stats.decode_tokens
    )


@pytest.mark.parametrize("force", [True, False], ids=["forced", "own-tags"])
def test_a_retraced_answer_leaves_the_cache_as_reading_it_from_scratch_would(engine, make_engine, scene, force):
    turn = UserTurn(QUESTION, (scene,))
    events: list[tuple[str, str, int]] = []
    first = engine.answer(
        turn,
        settings=search(beam=2, retrace=2, retrace_margin=0.0, force_stages=force),
        on_event=lambda ev: events.append((ev.kind, ev.stage, ev.candidate)),
    )
    assert first.retraces and first.stats.image_encodes == 1
    retraced = [(stage, at) for kind, stage, at in events if kind == "retrace"]
    names = [s.name for s in first.stages]
    assert retraced == [(r.resampled, names.index(r.stage)) for r in first.retraces]
    prompt = engine.prompt_units(QUESTION, [scene])
    held = engine._native._trunk_units()
    assert held[len(prompt) :] == first.assistant_tokens  # the discarded branches left nothing behind
    assert _in_order(stage_tokens(first), first.assistant_tokens)  # the winners kept, tags between them
    assert_kv_is_the_trunk(engine)
    fresh = make_engine()
    follow = engine.answer(UserTurn(FOLLOW_UP), [past(turn, first)], settings=GREEDY)
    assert follow.stats.image_encodes == 0
    again = fresh.answer(UserTurn(FOLLOW_UP), [past(turn, first)], settings=GREEDY)
    assert follow.stages[0].candidates[0].mean_logprob == pytest.approx(
        again.stages[0].candidates[0].mean_logprob, abs=1e-3
    )
    assert_same_greedy(engine, fresh)


def test_retraces_survive_the_json_round_trip(scripted, scene):
    trace = scripted("unsure_caption").answer(
        UserTurn(QUESTION, (scene,)), settings=dataclasses.replace(SCRIPTED, retrace=1)
    )
    data = trace.to_json()
    assert data["schema"] == 4 and data["retraces"][0]["stage"] == "caption"
    assert Trace.loads(trace.dumps()) == trace
    old = {**data, "schema": 3}
    del old["retraces"], old["answers"]
    assert Trace.from_json(old).retraces == [] and Trace.from_json(old).answers == []


def test_best_of_n_refuses_retracing():
    with pytest.raises(ValueError, match="best-of-N has no stages to retrace"):
        SearchSettings(best_of=2, retrace=1)


def test_the_judge_retraces_on_its_winners_log_probability(scripted, scene):
    eng = scripted("unsure_caption")
    if eng.judge_choices is None:
        pytest.skip("the scripted vocabulary has no judge labels")
    trace = eng.answer(UserTurn(QUESTION, (scene,)), settings=dataclasses.replace(SCRIPTED, scorer="judge", retrace=1))
    (r,) = trace.retraces
    summary, caption = r.discarded
    assert r.stage == "caption" and r.best == pytest.approx(_winner_logprob(caption), abs=1e-6)
    assert r.threshold == pytest.approx(_winner_logprob(summary) - SCRIPTED.retrace_margin, abs=1e-6)


def test_a_python_scorer_retraces_on_its_own_scores(engine, scene):
    def reasoning_is_poor(stage: str, candidates: list[dict]) -> list[float]:
        return [-10.0 if stage == "reasoning" else 0.0 for _ in candidates]

    trace = engine.answer(
        UserTurn(QUESTION, (scene,)),
        settings=search(beam=2, scorer="python", retrace=2, retrace_margin=1.0),
        scorer=reasoning_is_poor,
    )
    assert [(r.stage, r.resampled, r.best, r.threshold) for r in trace.retraces] == [
        ("reasoning", "caption", -10.0, -1.0)
    ] * 2
    assert trace.stats.image_encodes == 1
