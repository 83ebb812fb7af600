"""The search against independent references: llama-cpp-python's own decoding, from-scratch
decodes of the same ids, and a fresh engine fed the same segments.

llama-cpp-python's `Llama` runs with flash attention off (its default), so these engines do too: with
it on, batched and token-by-token decoding differ by ~1e-3 on the tiny model, enough to flip the
near-ties a random model has (README, "Flash attention"). The prompt is the default one: the tiny
model is not trained on the four-stage format, so it is told the format instruction in its system turn.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.fixtures.engine import FOLLOW_UP, GREEDY, QUESTION, assert_same_greedy, past, same_unit, search

from stagelens.engine import SearchSettings, Trace, UserTurn


@pytest.fixture(scope="module")
def _exact_engine(make_engine):
    return make_engine(flash_attn="off")


@pytest.fixture()
def engine(_exact_engine):
    """The shared engine of these tests (flash attention off), with its cache cleared."""
    _exact_engine.reset_cache()
    return _exact_engine


@pytest.fixture(scope="module")
def reference_llm(tiny_model):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(tiny_model.text), n_ctx=2048, logits_all=True, verbose=False)
    yield llm
    llm.close()


def _all_logits(llm, tokens: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float64)


def _generate(llm, prefix: list[int], n: int) -> list[int]:
    out: list[int] = []
    if n == 0:
        return out
    for tok in llm.generate(prefix, temp=0.0, top_k=1, reset=True):
        out.append(tok)
        if len(out) == n:
            break
    return out


def _stage_prefixes(engine, prompt: list[int], trace: Trace) -> list[list[int]]:
    """What each stage's candidates continue: the prompt, earlier winners and the tags we wrote."""
    prefix, out = list(prompt), []
    for spec, stage in zip(engine.stage_specs, trace.stages, strict=True):
        if stage.forced_open:
            prefix += spec.open_tokens
        out.append(list(prefix))
        prefix += next(c for c in stage.candidates if c.selected).tokens
        if stage.forced_close:
            prefix += spec.close_tokens
    assert prefix[len(prompt) :] == trace.assistant_tokens
    return out


def _content(engine, stage: str, tokens: list[int]) -> bytes:
    from stagelens.engine.native import _native
    from stagelens.engine.prompt import STAGE_TAGS

    pieces = [engine._native.detokenize([t], False) for t in tokens]
    spec = next(s for s in engine.stage_specs if s.name == stage)
    content, *_ = _native.scan_tags(pieces, *STAGE_TAGS[stage], True, spec.open_aliases, spec.stops)
    return content


def test_beam1_greedy_equals_llama_cpp_python(engine, tiny_model):
    import llama_cpp

    trace = engine.answer(
        UserTurn(QUESTION), settings=SearchSettings(beam=1, temperature=0.0, max_stage_tokens=24, seed=1)
    )
    ours = trace.stages[0].candidates[0].tokens
    assert len(ours) > 0
    prompt = engine.prompt_units(QUESTION, []) + engine.stage_specs[0].open_tokens
    llm = llama_cpp.Llama(model_path=str(tiny_model.text), n_ctx=1024, verbose=False)
    try:
        theirs = _generate(llm, prompt, len(ours))
    finally:
        llm.close()
    assert ours == theirs


def test_forked_beams_match_from_scratch_decoding(engine, scene):
    prompt = engine.prompt_units(QUESTION, [scene])
    rng = np.random.default_rng(0)
    branches = [list(map(int, rng.integers(0, 256, size=n))) for n in (5, 9, 1, 7)]
    forked = engine.fork_logits(prompt, branches)
    for branch, logits in zip(branches, forked, strict=True):
        engine.reset_cache()
        (scratch,) = engine.fork_logits(prompt + branch[:-1], [[branch[-1]]] if branch else [[]])
        a = np.frombuffer(logits, dtype=np.float32)
        b = np.frombuffer(scratch, dtype=np.float32)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=2e-3 * max(1.0, float(np.abs(b).max())), rtol=0)


def test_judge_margins_match_llama_cpp_python(engine, reference_llm):
    trace = engine.answer(UserTurn(QUESTION), settings=search(scorer="judge", max_stage_tokens=10))
    prompt = engine.prompt_units(QUESTION, [])
    stage, spec, judge = trace.stages[0], engine.stage_specs[0], engine.judge_spec
    cands = stage.candidates
    pool = [i for i, c in enumerate(cands) if c.same_as is None]  # identical candidates are merged first
    pairs = [(pool[k], pool[k + 1]) for k in range(0, len(pool) - 1, 2)]  # the first round's pairs
    assert pairs
    for a, b in pairs:

        def toks(i):
            return reference_llm.tokenize(_content(engine, "summary", cands[i].tokens), add_bos=False, special=False)

        judge_prompt = prompt + spec.judge_head + toks(a) + judge.mid + toks(b) + judge.tail
        last = _all_logits(reference_llm, judge_prompt)[-1]
        margin = last[judge.choice_a] - last[judge.choice_b]
        # the pair's loser keeps the score of this comparison
        recorded = -cands[b].score if margin >= 0 else cands[a].score
        assert recorded == pytest.approx(margin, abs=1e-2)


@pytest.fixture(params=["as_loaded", "choices_swapped"])
def judged(request, engine):
    """The tiny model's judge always prefers slot B; with its two choice tokens swapped it always prefers
    slot A, whose winners then continue their cached prefix in every later round."""
    if request.param == "as_loaded":
        yield engine, engine.judge_spec
        return
    spec = engine.judge_spec._replace(choice_a=engine.judge_spec.choice_b, choice_b=engine.judge_spec.choice_a)
    engine._native.configure(engine.stage_specs, spec)
    try:
        yield engine, spec
    finally:
        engine._native.configure(engine.stage_specs, engine.judge_spec)


def test_shared_judge_prefixes_give_the_margins_of_the_whole_prompts(judged, reference_llm):
    """The judge reads pending + instructions once per stage and a slot-A candidate's prefix once per
    knockout, forking them: every comparison of every round must still get the margin the model
    computes for its whole prompt read from scratch, and fewer tokens must be read than those prompts hold."""
    engine, judge = judged
    trace = engine.answer(UserTurn(QUESTION), settings=search(scorer="judge", beam=8, temperature=1.5))
    prompt = engine.prompt_units(QUESTION, [])
    whole_prompts, continued, rounds = 0, 0, set()
    prefixes = _stage_prefixes(engine, prompt, trace)
    for spec, stage, prefix in zip(engine.stage_specs, trace.stages, prefixes, strict=True):
        before = prefix[: len(prefix) - len(spec.open_tokens)] if stage.forced_open else prefix
        cands = stage.candidates

        def toks(i, stage_name=stage.name, cands=cands):
            content = _content(engine, stage_name, cands[i].tokens)
            return reference_llm.tokenize(content, add_bos=False, special=False)

        for pairing in stage.bracket:
            rounds.add(pairing.round)
            continued += pairing.a in {p.a for p in stage.bracket if p.round < pairing.round}
            judge_prompt = before + spec.judge_head + toks(pairing.a) + judge.mid + toks(pairing.b) + judge.tail
            whole_prompts += len(judge_prompt) - len(before)
            last = _all_logits(reference_llm, judge_prompt)[-1]
            assert pairing.margin == pytest.approx(last[judge.choice_a] - last[judge.choice_b], abs=1e-2)
    assert rounds == {0, 1, 2}
    if judge is not engine.judge_spec:
        assert continued >= 2, "slot A keeps winning: later rounds continue its prefix"
    assert 0 < trace.stats.judge_tokens < whole_prompts


def test_best_of_n_judge_margins_are_those_of_the_whole_answers_read_from_scratch(engine, reference_llm):
    """The judge reads each pair of whole answers after the prompt (without the first stage's tag)."""
    trace = engine.answer(UserTurn(QUESTION), settings=search(best_of=4, scorer="judge", max_stage_tokens=8))
    prompt = engine.prompt_units(QUESTION, [])
    judge = engine.judge_spec
    assert trace.answer_bracket

    def answer_text(i: int) -> bytes:
        parts = []
        for spec, stage in zip(engine.stage_specs, trace.stages, strict=True):
            content = _content(engine, stage.name, stage.candidates[i].tokens)
            parts.append(spec.open_text.encode() + content + spec.close_text.encode())
        return b"\n\n".join(parts)

    for pairing in trace.answer_bracket:

        def toks(i):
            return reference_llm.tokenize(answer_text(i), add_bos=False, special=False)

        judge_prompt = prompt + judge.answer_head + toks(pairing.a) + judge.mid + toks(pairing.b) + judge.tail
        last = _all_logits(reference_llm, judge_prompt)[-1]
        assert pairing.margin == pytest.approx(last[judge.choice_a] - last[judge.choice_b], abs=1e-2)


def test_greedy_search_equals_llama_cpp_python_in_every_stage(engine, reference_llm):
    trace = engine.answer(
        UserTurn(QUESTION), settings=SearchSettings(beam=1, temperature=0.0, max_stage_tokens=16, seed=1)
    )
    prompt = engine.prompt_units(QUESTION, [])
    prefixes = _stage_prefixes(engine, prompt, trace)
    assert prompt + trace.assistant_tokens == engine._native._trunk_units()
    for stage, prefix in zip(trace.stages, prefixes, strict=True):
        ours = stage.candidates[0].tokens
        assert ours == _generate(reference_llm, prefix, len(ours)), stage.name


def test_beam_mean_logprobs_match_a_from_scratch_computation(engine, reference_llm):
    trace = engine.answer(UserTurn(QUESTION), settings=search(max_stage_tokens=10))
    prefixes = _stage_prefixes(engine, engine.prompt_units(QUESTION, []), trace)
    checked = 0
    for stage, prefix in zip(trace.stages, prefixes, strict=True):
        for cand in stage.candidates:
            if not cand.tokens:
                continue
            logits = _all_logits(reference_llm, prefix + cand.tokens)
            rows = logits[len(prefix) - 1 : -1]
            top = rows.max(axis=1, keepdims=True)
            log_probs = rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))
            mean = float(np.mean([log_probs[i, t] for i, t in enumerate(cand.tokens)]))
            assert cand.mean_logprob == pytest.approx(mean, abs=1e-2), stage.name
            checked += 1
    assert checked >= 4 * 3


# ------------------------------------------------------------- cached follow-ups


def test_cached_follow_up_equals_llama_cpp_python_fed_the_same_ids(engine, reference_llm):
    first_turn = UserTurn(QUESTION)
    first = engine.answer(first_turn, settings=search(beam=2))  # sampled: ids a re-tokenization would not give
    follow = engine.answer(UserTurn(FOLLOW_UP), [past(first_turn, first)], settings=GREEDY)
    trunk = engine._native._trunk_units()
    prompt = trunk[: len(trunk) - len(follow.assistant_tokens)]
    assert prompt[: len(engine.prompt_units(QUESTION, [])) + len(first.assistant_tokens)] == (
        engine.prompt_units(QUESTION, []) + first.assistant_tokens
    )
    prefixes = _stage_prefixes(engine, prompt, follow)
    for stage, prefix in zip(follow.stages, prefixes, strict=True):
        ours = stage.candidates[0].tokens
        assert ours == _generate(reference_llm, prefix, len(ours)), stage.name


def test_cached_follow_up_with_an_image_equals_a_fresh_engine_fed_the_same_segments(engine, make_engine, scene):
    first_turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(first_turn, settings=search(beam=2))
    history = [past(first_turn, first)]
    cached = engine.answer(UserTurn(FOLLOW_UP), history, settings=GREEDY)
    assert cached.stats.image_encodes == 0
    trunk = engine._native._trunk_units()
    prompt = trunk[: len(trunk) - len(cached.assistant_tokens)]

    fresh = make_engine(flash_attn="off")
    scratch = fresh.answer(UserTurn(FOLLOW_UP), history, settings=GREEDY)
    assert scratch.stats.image_encodes == 1
    assert scratch.stats.prompt_tokens > cached.stats.prompt_tokens  # it read the whole conversation
    scratch_trunk = fresh._native._trunk_units()
    held = scratch_trunk[: len(prompt)]
    assert all(same_unit(a, b) for a, b in zip(held, prompt, strict=True)), "the same ids, the same image"
    # every greedy token equal, or the two runs part at a tie (the KV was computed in other batches)
    assert_same_greedy(engine, fresh)
    # the first token after the forced tag, from logits decoded from scratch off the same ids
    (logits,) = fresh.fork_logits(held, [engine.stage_specs[0].open_tokens])
    assert int(np.frombuffer(logits, dtype=np.float32).argmax()) == cached.stages[0].candidates[0].tokens[0]
