"""Best-of-N as a method of the native search: N whole answers decoded together through every stage,
each in its own sequence off one image encode and one shared prompt, kept by mean log-probability, by
the judge's knockout of whole answers, or by an external (Python or verifier) scorer."""

from __future__ import annotations

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

from stagelens.engine import SearchSettings, Trace, UserTurn
from stagelens.engine.events import ANSWERS


def _answer_tokens(trace: Trace, i: int) -> list[list[int]]:
    return [s.candidates[i].tokens for s in trace.stages]


def test_best_of_n_decodes_n_whole_answers_and_keeps_the_likeliest(engine, scene):
    trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=search(best_of=3))
    assert trace.stats.image_encodes == 1 and len(trace.answers) == 3
    assert all(len(s.candidates) == 3 and s.bracket == [] for s in trace.stages)
    for a in trace.answers:
        cands = [s.candidates[a.index] for s in trace.stages]
        assert a.n_tokens == sum(c.n_tokens for c in cands)
        mean = sum((c.mean_logprob or 0.0) * c.n_tokens for c in cands) / a.n_tokens
        assert a.score == pytest.approx(mean, abs=1e-6)
        assert all(c.selected == a.selected for c in cands)  # one whole answer is kept, never a mix
    kept = max(trace.answers, key=lambda a: a.score or float("-inf"))
    assert kept.selected and sum(a.selected for a in trace.answers) == 1
    assert [s.text for s in trace.stages] == [s.candidates[kept.index].text for s in trace.stages]
    assert len({str(_answer_tokens(trace, i)) for i in range(3)}) > 1  # sampled: the answers differ
    # one batch: the width-3 steps are most of the decoding
    assert trace.stats.steps_by_width[3] > trace.stats.steps_by_width[1]


def test_best_of_n_starts_each_answer_like_stage_beam_starts_its_candidates(engine, scene):
    turn = UserTurn(QUESTION, (scene,))
    beam = engine.answer(turn, settings=search(beam=3))
    engine.reset_cache()
    best = engine.answer(turn, settings=search(best_of=3))
    # the same seeds and the same shared prefix: the first stage's candidates are the same
    assert [c.tokens for c in best.stages[0].candidates] == [c.tokens for c in beam.stages[0].candidates]
    assert best.stats.prompt_tokens == beam.stats.prompt_tokens


def test_greedy_best_of_n_gives_n_copies_of_the_greedy_answer(engine, scene):
    turn = UserTurn(QUESTION, (scene,))
    greedy = engine.answer(turn, settings=GREEDY)
    engine.reset_cache()
    best = engine.answer(turn, settings=SearchSettings(best_of=2, temperature=0.0, max_stage_tokens=16, seed=1))
    # each answer continues only its own earlier stages: in every sequence, the greedy path
    assert _answer_tokens(best, 0) == _answer_tokens(best, 1) == stage_tokens(greedy)
    assert best.assistant_tokens == greedy.assistant_tokens


def test_the_kept_answer_is_what_the_cache_holds(engine, make_engine, scene):
    turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(turn, settings=search(best_of=4))
    prompt = engine.prompt_units(QUESTION, [scene])
    assert engine._native._trunk_units()[len(prompt) :] == first.assistant_tokens
    assert_kv_is_the_trunk(engine)
    follow = engine.answer(UserTurn(FOLLOW_UP), [past(turn, first)], settings=GREEDY)
    assert follow.stats.image_encodes == 0
    fresh = make_engine()
    again = fresh.answer(UserTurn(FOLLOW_UP), [past(turn, first)], settings=GREEDY)
    assert follow.stages[0].candidates[0].mean_logprob == pytest.approx(
        again.stages[0].candidates[0].mean_logprob, abs=1e-3
    )
    assert_same_greedy(engine, fresh)


def test_an_external_scorer_ranks_the_whole_answers(engine, scene):
    calls: list[tuple[str, list[dict]]] = []

    def scorer(stage: str, candidates: list[dict]) -> list[float]:
        calls.append((stage, candidates))
        return [-float(len(c["text"])) for c in candidates]  # the shortest answer wins

    turn = UserTurn(QUESTION, (scene,))
    trace = engine.answer(turn, settings=search(best_of=3, scorer="python"), scorer=scorer)
    ((stage, answers),) = calls  # one call, for the whole answers, none per stage
    assert stage == ANSWERS and len(answers) == 3
    for a, given in zip(trace.answers, answers, strict=True):
        stages = [s.candidates[a.index].text for s in trace.stages]
        assert [t.strip() for t in given["stages"]] == stages
        assert given["text"] == "\n\n".join(stages) and given["n_tokens"] == a.n_tokens
        assert a.score == pytest.approx(-len(given["text"]))
    kept = min(range(3), key=lambda i: (len(answers[i]["text"]), i))
    assert [a.selected for a in trace.answers] == [i == kept for i in range(3)]
    assert [s.text for s in trace.stages] == [s.candidates[kept].text for s in trace.stages]
    assert_kv_is_the_trunk(engine)


def test_a_failing_answer_scorer_is_the_scorers_error_and_keeps_no_answer(engine, scene):
    def scorer(stage: str, candidates: list[dict]) -> list[float]:
        return [0.0]  # one score for three answers

    turn = UserTurn(QUESTION, (scene,))
    with pytest.raises(ValueError, match="returned 1 scores for 3 candidates"):
        engine.answer(turn, settings=search(best_of=3, scorer="python"), scorer=scorer)
    again = engine.answer(turn, settings=search(best_of=2))
    assert again.stats.image_encodes == 0 and sum(a.selected for a in again.answers) == 1


def test_the_judge_ranks_whole_answers_in_one_knockout(engine, scene):
    turn = UserTurn(QUESTION, (scene,))
    trace = engine.answer(turn, settings=search(best_of=4, scorer="judge", temperature=1.2))
    distinct = len({str(_answer_tokens(trace, i)) for i in range(4)})
    assert distinct >= 2 and trace.stats.judge_calls == distinct - 1 == len(trace.answer_bracket)
    assert all(s.bracket == [] for s in trace.stages)  # no stage was judged on its own
    final = max(trace.answer_bracket, key=lambda p: p.round)
    winner = final.a if final.margin >= 0 else final.b
    assert [a.selected for a in trace.answers] == [i == winner for i in range(4)]
    assert trace.answers[winner].score == pytest.approx(final.margin if final.margin >= 0 else -final.margin)
    assert [s.text for s in trace.stages] == [s.candidates[winner].text for s in trace.stages]
    assert_kv_is_the_trunk(engine)
    assert Trace.loads(trace.dumps()) == trace


def test_greedy_answers_are_never_judged(engine, scene):
    settings = SearchSettings(best_of=3, scorer="judge", temperature=0.0, max_stage_tokens=8, seed=1)
    trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=settings)
    assert trace.answer_bracket == [] and trace.stats.judge_calls == 0 and trace.answers[0].selected


def test_best_of_n_answers_survive_the_json_round_trip(engine, scene):
    trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=search(best_of=2, max_stage_tokens=6))
    assert Trace.loads(trace.dumps()) == trace and trace.to_json()["answers"][0]["index"] == 0


def test_a_cancelled_best_of_n_keeps_no_answer_and_the_engine_goes_on(engine, scene):
    from stagelens.engine.native import CancelFlag

    cancel = CancelFlag()
    seen: list[str] = []

    def on_event(ev) -> None:
        seen.append(ev.kind)
        if ev.kind == "text" and ev.stage == "caption":
            cancel.set()

    turn = UserTurn(QUESTION, (scene,))
    trace = engine.answer(turn, settings=search(best_of=3), on_event=on_event, cancel=cancel)
    assert trace.cancelled and not any(a.selected for a in trace.answers)
    # the flag is read at the next step: in caption, or in reasoning when caption had just ended
    assert [s.name for s in trace.stages][:2] == ["summary", "caption"] and len(trace.stages) <= 3
    assert not trace.stages[-1].complete
    again = engine.answer(turn, settings=search(best_of=2))  # the question is still held, the partial answer gone
    assert again.stats.image_encodes == 0 and not again.cancelled and sum(a.selected for a in again.answers) == 1
