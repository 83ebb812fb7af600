"""The native stage-level beam search, driven through stagelens.engine with the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stagelens.engine import (
    STAGE_NAMES,
    CancelFlag,
    ContextOverflowError,
    DecodeError,
    ImageRejectedError,
    KVCacheFullError,
    ModelLoadError,
    NoVisionError,
    SearchSettings,
    Trace,
    Turn,
)

QUESTION = "How many red circles are there?"


def settings(**kw) -> SearchSettings:
    base = {"beam": 4, "seed": 7, "max_stage_tokens": 12}
    base.update(kw)
    return SearchSettings(**base)


def test_same_seed_gives_the_same_trace(engine, scene):
    first = engine.answer([scene], QUESTION, settings=settings())
    engine.reset_cache()
    second = engine.answer([scene], QUESTION, settings=settings())
    strip = lambda t: [(s.name, [(c.text, c.tokens, c.score) for c in s.candidates]) for s in t.stages]  # noqa: E731
    assert strip(first) == strip(second)
    engine.reset_cache()
    other = engine.answer([scene], QUESTION, settings=settings(seed=8))
    assert strip(other) != strip(first)


def test_stage_forcing_gives_four_stages_from_random_weights(engine, scene):
    trace = engine.answer([scene], QUESTION, settings=settings())
    assert [s.name for s in trace.stages] == list(STAGE_NAMES)
    assert all(s.forced_open and s.complete for s in trace.stages)
    assert all(len(s.candidates) == 4 and sum(c.selected for c in s.candidates) == 1 for s in trace.stages)
    assert trace.conclusion == trace.stages[-1].text
    # the model's turn holds each stage between its tags, in order
    text = trace.assistant_text
    positions = [text.index(f"<{name.upper()}>") for name in STAGE_NAMES]
    assert positions == sorted(positions)
    assert text.rstrip().endswith("</CONCLUSION>")


def test_logprob_scorer_keeps_the_best_mean_logprob(engine, scene):
    trace = engine.answer([scene], QUESTION, settings=settings(scorer="logprob"))
    for stage in trace.stages:
        best = max(stage.candidates, key=lambda c: c.mean_logprob if c.mean_logprob is not None else -1e9)
        assert best.selected
        assert all(c.score == c.mean_logprob for c in stage.candidates)


def test_judge_encodes_the_image_once_and_gives_margins(engine, scene):
    trace = engine.answer([scene], QUESTION, settings=settings(scorer="judge"))
    assert trace.stats.image_encodes == 1
    assert trace.stats.judge_calls == 3 * 4  # knockout of 4: three comparisons per stage
    for stage in trace.stages:
        winner = next(c for c in stage.candidates if c.selected)
        assert winner.score is not None and winner.score >= 0  # it won its last comparison
        assert all(c.score is not None for c in stage.candidates)


def test_python_scorer_picks_what_it_scores_highest(engine, scene):
    seen = []

    def prefer_shortest(stage: str, candidates: list[dict]) -> list[float]:
        seen.append(stage)
        return [-len(c["text"]) for c in candidates]

    trace = engine.answer([scene], QUESTION, settings=settings(scorer="python"), scorer=prefer_shortest)
    assert seen == list(STAGE_NAMES)
    for stage in trace.stages:
        shortest = min(len(c.text) for c in stage.candidates)
        winner = next(c for c in stage.candidates if c.selected)
        assert len(winner.text) == shortest


def test_python_scorer_errors_propagate(engine, scene):
    def broken(stage, candidates):
        raise RuntimeError("verifier is down")

    with pytest.raises(RuntimeError, match="verifier is down"):
        engine.answer([scene], QUESTION, settings=settings(scorer="python"), scorer=broken)
    # the engine is still usable afterwards
    assert engine.answer([scene], QUESTION, settings=settings(beam=1)).conclusion is not None


def test_beam1_greedy_equals_llama_cpp_python(engine, tiny_model):
    import llama_cpp

    trace = engine.answer([], QUESTION, settings=SearchSettings(beam=1, temperature=0.0, max_stage_tokens=24, seed=1))
    ours = trace.stages[0].candidates[0].tokens
    assert len(ours) > 0
    prompt = engine.prompt_units(QUESTION, []) + engine._stage_specs[0]["open_tokens"]
    llm = llama_cpp.Llama(model_path=str(tiny_model.text), n_ctx=1024, verbose=False)
    try:
        theirs = []
        for tok in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
            theirs.append(tok)
            if len(theirs) == len(ours):
                break
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


def test_follow_up_reuses_the_cached_prefix(engine, scene):
    first = engine.answer([scene], QUESTION, settings=settings(beam=2))
    assert first.stats.image_encodes == 1
    history = [Turn(QUESTION, (scene,), first.assistant_text)]
    follow = "And how many blue squares?"
    # the new turn's text: everything the template adds after the cached turn
    full = engine.render_prompt(history, follow, 0)
    cached = engine.render_prompt((), QUESTION, 1) + first.assistant_text
    assert full.startswith(cached)
    new_turn_tokens = len(engine.tokenize(full[len(cached) :]))

    second = engine.answer([], follow, history=history, settings=settings(beam=2))
    assert second.stats.image_encodes == 0
    assert second.stats.prompt_tokens == new_turn_tokens - 1  # the last one is decoded by each candidate


def test_changed_image_is_not_served_from_cache(engine, scene, scene_png):
    from PIL import Image

    from stagelens.images import load_image

    engine.answer([scene], QUESTION, settings=settings(beam=1))
    flipped = load_image(_flip(scene_png, Image), name="flipped.png")
    assert flipped.digest != scene.digest
    trace = engine.answer([flipped], QUESTION, settings=settings(beam=1))
    assert trace.stats.image_encodes == 1
    # a changed image max side gives other pixels, so also a fresh encode
    smaller = load_image(scene_png, max_side=48)
    assert engine.answer([smaller], QUESTION, settings=settings(beam=1)).stats.image_encodes == 1


def _flip(png: bytes, Image) -> bytes:  # noqa: N803
    import io

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, "PNG")
    return out.getvalue()


def test_cancel_mid_stage_returns_a_partial_trace(engine, scene):
    cancel = CancelFlag()
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.kind == "text" and ev.stage == "caption":
            cancel.set()

    trace = engine.answer(
        [scene],
        QUESTION,
        settings=settings(max_stage_tokens=64),
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
    # the engine answers the next question normally
    cancel.clear()
    assert not engine.answer([scene], QUESTION, settings=settings(beam=1)).cancelled


def test_events_stream_each_stage(engine, scene):
    events = []
    trace = engine.answer([scene], QUESTION, settings=settings(beam=2), on_event=events.append)
    kinds = [(e.kind, e.stage) for e in events if e.kind != "text"]
    expected = [(k, s) for s in STAGE_NAMES for k in ("stage_begin", "stage_end")]
    assert kinds == expected
    for stage in trace.stages:
        for i, cand in enumerate(stage.candidates):
            mine = [e for e in events if e.kind == "text" and e.stage == stage.name and e.candidate == i]
            streamed = "".join(e.text for e in mine)
            assert streamed.strip() == cand.text


def test_reference_mode_pays_for_every_candidate(engine, scene):
    batched = engine.answer([scene], QUESTION, settings=settings(beam=2, scorer="judge"))
    engine.reset_cache()
    reference = engine.answer([scene], QUESTION, settings=settings(beam=2, scorer="judge", mode="reference"))
    assert batched.stats.image_encodes == 1
    # per stage: one re-encode per candidate and one per judge call
    assert reference.stats.image_encodes >= 4 * (2 + 1)
    assert reference.stats.prefill_tokens > 3 * batched.stats.prefill_tokens


def test_trace_json_round_trips(engine, scene):
    trace = engine.answer([scene], QUESTION, settings=settings(beam=2))
    data = json.loads(trace.dumps())
    assert data["schema"] == 1
    assert set(data) >= {"question", "images", "settings", "stages", "conclusion", "cancelled", "stats", "model"}
    assert set(data["settings"]) >= {"beam", "scorer", "temperature", "top_p", "seed", "max_stage_tokens"}
    assert set(data["stats"]) >= {"image_encodes", "prefill_tokens", "decode_tokens", "judge_calls", "wall_s"}
    assert set(data["model"]) >= {"path", "mmproj", "n_params", "backend"}
    assert data["images"][0]["original_size"] == [96, 72]
    cand = data["stages"][0]["candidates"][0]
    assert set(cand) >= {"text", "n_tokens", "mean_logprob", "score", "selected", "wall_s"}
    assert Trace.loads(trace.dumps()) == trace


# ---------------------------------------------------------------- error paths


def test_prompt_longer_than_context(make_engine, scene):
    small = make_engine(n_ctx=256)
    with pytest.raises(ContextOverflowError, match="context holds"):
        small.answer([scene], "why " * 300, settings=settings(beam=1))
    # and it still works for a question that fits
    assert small.answer([scene], QUESTION, settings=settings(beam=1, max_stage_tokens=8)).conclusion is not None


def test_search_that_cannot_fit_is_refused_before_any_work(make_engine, scene):
    small = make_engine(n_ctx=512)
    with pytest.raises(ContextOverflowError, match="lower the beam width"):
        small.answer([scene], QUESTION, settings=settings(beam=8, max_stage_tokens=200))


def test_no_kv_slot_is_an_exception(make_engine, scene):
    small = make_engine(n_ctx=256)
    prompt = small.prompt_units(QUESTION, [scene])
    with pytest.raises(KVCacheFullError, match="KV-cache slot"):
        small.fork_logits(prompt, [[65] * 200, [66] * 200])


def test_model_without_vision(tiny_model):
    from stagelens.engine import Engine, LoadSettings

    with pytest.raises(NoVisionError, match="not a vision projector"):
        Engine(LoadSettings(str(tiny_model.text), str(tiny_model.text)))
    with pytest.raises(NoVisionError, match="without a vision projector"):
        Engine(LoadSettings(str(tiny_model.text), None))


def test_bad_model_files(tiny_model, tmp_path):
    from stagelens.engine import Engine, LoadSettings

    with pytest.raises(ModelLoadError, match="does not exist"):
        Engine(LoadSettings(str(tmp_path / "missing.gguf"), str(tiny_model.mmproj)))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        Engine(LoadSettings(str(junk), str(tiny_model.mmproj)))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_model.text.read_bytes()[:5000])
    with pytest.raises(ModelLoadError):
        Engine(LoadSettings(str(truncated), str(tiny_model.mmproj)))
    with pytest.raises(ModelLoadError, match="vision projector, not a text model"):
        Engine(LoadSettings(str(tiny_model.mmproj), str(tiny_model.mmproj)))


def test_image_marker_mismatch_is_a_clear_error(engine, scene):
    with pytest.raises(ValueError, match="image markers"):
        engine._native.prepare("no marker here", [(*scene.sent_size, scene.rgb, scene.digest)])


def test_a_question_quoting_the_media_marker_claims_no_image(engine, scene):
    marker = engine.marker
    question = f"What does {marker} mean in this picture?"
    trace = engine.answer([scene], question, settings=settings(beam=1))
    assert trace.stats.image_encodes == 1 and len(trace.stages) == 4
    assert engine.render_prompt((), question, 1).count(marker) == 1
    history = [Turn(question, (scene,), f"<SUMMARY>It quotes {marker}.</SUMMARY>")]
    follow_up = engine.answer([], f"And {marker} again?", history=history, settings=settings(beam=1))
    assert len(follow_up.stages) == 4, "a marker in the earlier answer claims no image either"


def _stage_texts(trace: Trace) -> list[list[str]]:
    return [[c.text for c in stage.candidates] for stage in trace.stages]


@pytest.mark.parametrize("after", [1, 2, 5, 30])  # the prompt, a stage's first step, mid-stage, later
def test_decode_failure_is_an_exception_and_leaves_no_stale_cache(engine, scene, after):
    reference = engine.answer([scene], QUESTION, settings=settings(beam=2))
    engine.reset_cache()
    engine._native._inject_fault("decode", after)
    with pytest.raises(DecodeError, match="llama_decode failed with code -1 while"):
        engine.answer([scene], QUESTION, settings=settings(beam=2))
    again = engine.answer([scene], QUESTION, settings=settings(beam=2))
    assert _stage_texts(again) == _stage_texts(reference), "what the failed call left in the cache was not reused"


def test_image_the_projector_rejects_is_an_exception_and_the_engine_goes_on(engine, scene):
    engine.reset_cache()
    engine._native._inject_fault("image", 1)
    with pytest.raises(ImageRejectedError, match="could not encode the image"):
        engine.answer([scene], QUESTION, settings=settings(beam=2))
    again = engine.answer([scene], QUESTION, settings=settings(beam=2))
    assert again.stats.image_encodes == 1 and len(again.stages) == 4
    with pytest.raises(ValueError, match="unknown fault"):
        engine._native._inject_fault("disk", 1)


def test_beam_beyond_what_was_loaded(engine, scene):
    with pytest.raises(ValueError, match="loaded for"):
        engine.answer([scene], QUESTION, settings=settings(beam=64))


def test_reentrant_calls_are_refused_not_crashed(engine, scene):
    from stagelens.engine import EngineError

    refused = []

    def on_event(ev):
        if not refused:
            with pytest.raises(EngineError, match="busy"):
                engine._native.tokenize("hello")
            refused.append(ev)

    engine.answer([scene], QUESTION, settings=settings(beam=2), on_event=on_event)
    assert refused


def test_image_chunks_describe_themselves(engine, scene):
    units = engine.prompt_units(QUESTION, [scene])
    (chunk,) = [u for u in units if not isinstance(u, int)]
    assert chunk.id == scene.digest
    assert chunk.n_tokens == 16 and chunk.n_pos == 16
    assert repr(chunk) == f"<ImageChunk id={scene.digest[:12]}... tokens=16>"


def test_judge_search_that_cannot_fit_is_refused_before_the_kv_fills(make_engine, scene):
    # batched judging runs while the candidates still hold their cells: the pre-check must count both
    small = make_engine(n_ctx=640)
    fitted, refused = [], []
    for budget in range(8, 97, 8):
        small.reset_cache()
        try:
            small.answer([scene], QUESTION, settings=settings(beam=4, scorer="judge", max_stage_tokens=budget))
        except ContextOverflowError:
            refused.append(budget)
            continue
        except KVCacheFullError as exc:
            pytest.fail(f"stage budget {budget}: the pre-check passed but the KV cache filled: {exc}")
        fitted.append(budget)
    assert fitted and refused  # the sweep crosses the limit


def test_handler_error_in_the_flush_after_a_cancel_propagates(engine, scene):
    # beam 1: after the handler sets the flag, the only text left to stream is the final flush's
    cancel = CancelFlag()

    def on_event(ev):
        if ev.kind != "text" or ev.stage != "caption":
            return
        if cancel.is_set():
            raise RuntimeError("the window is gone")
        cancel.set()

    with pytest.raises(RuntimeError, match="the window is gone"):
        engine.answer(
            [scene],
            QUESTION,
            settings=settings(beam=1, max_stage_tokens=64),
            on_event=on_event,
            cancel=cancel,
            stream_interval_ms=0,
        )
    cancel.clear()
    assert not engine.answer([scene], QUESTION, settings=settings(beam=1)).cancelled


def test_cancel_after_the_last_stage_keeps_the_complete_answer(engine, scene):
    cancel = CancelFlag()

    def on_event(ev):
        if ev.kind == "stage_end" and ev.stage == "conclusion":
            cancel.set()  # arrives while the answer's tail is decoded

    trace = engine.answer([scene], QUESTION, settings=settings(), on_event=on_event, cancel=cancel)
    assert cancel.is_set()
    assert not trace.cancelled
    assert all(s.complete for s in trace.stages)
    winner = next(c for c in trace.stages[-1].candidates if c.selected)
    assert trace.conclusion == winner.text


def test_too_long_closing_tag_is_refused_not_truncated(engine):
    prompt = engine.prompt_units(QUESTION, [])
    long_close = "</" + "CONCLUDING REMARKS AND OTHER WORDS " * 8 + ">"
    stages = [dict(spec) for spec in engine._stage_specs[:2]]
    stages[0]["close_text"] = long_close
    stages[0]["close_tokens"] = engine.tokenize(long_close)
    assert len(stages[0]["close_tokens"]) > 64
    params = {"beam": 2, "max_stage_tokens": 4, "seed": 1, "scorer": "judge", **engine._judge_params}
    with pytest.raises(ValueError, match="closing tag"):
        engine._native.search(prompt, stages, params)


def test_token_text_longer_than_256_bytes_is_kept(tmp_path):
    from stagelens.engine import native
    from stagelens_dev.testmodels import TINY, vocabulary, write_text_model

    long_token = "<|" + "long" * 80 + "|>"
    text = tmp_path / "tiny-text.gguf"
    write_text_model(text, TINY, vocab=vocabulary(extra_special_tokens=(long_token,)))
    eng = native.NativeEngine(str(text), None, n_ctx=256, n_seq_max=2)
    try:
        (tok,) = eng.tokenize(long_token)
        assert eng.detokenize([65, tok, 66], special=True) == b"A" + long_token.encode() + b"B"
    finally:
        eng.close()


def test_judge_choices_are_only_checked_when_the_judge_is_used(make_engine, scene, monkeypatch):
    import dataclasses

    from stagelens.engine import TemplateError
    from stagelens.engine import engine as engine_module

    real = engine_module.stage_texts

    def same_first_token(pieces):
        stages, judge = real(pieces)
        return stages, dataclasses.replace(judge, choice_b=judge.choice_a + "B")

    monkeypatch.setattr(engine_module, "stage_texts", same_first_token)
    eng = make_engine()
    assert eng.answer([scene], QUESTION, settings=settings(beam=2)).conclusion is not None
    with pytest.raises(TemplateError, match="judge scorer cannot be used"):
        eng.answer([scene], QUESTION, settings=settings(beam=2, scorer="judge"))


# ------------------------------------------ independent checks with llama-cpp-python


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


def _stage_prefixes(engine, prompt: list[int], trace: Trace) -> list[list[int]]:
    """What each stage's candidates continue: the prompt, earlier winners and the tags we wrote."""
    prefix, out = list(prompt), []
    for spec, stage in zip(engine._stage_specs, trace.stages, strict=True):
        if stage.forced_open:
            prefix += spec["open_tokens"]
        out.append(list(prefix))
        prefix += next(c for c in stage.candidates if c.selected).tokens
        if stage.forced_close:
            prefix += spec["close_tokens"]
    assert prefix == engine._native.trunk_units()
    return out


def _content(engine, stage: str, tokens: list[int]) -> bytes:
    from stagelens.engine.native import _native
    from stagelens.engine.prompt import STAGE_TAGS

    pieces = [engine._native.detokenize([t]) for t in tokens]
    content, *_ = _native.scan_tags(pieces, *STAGE_TAGS[stage], True)
    return content


def test_judge_margins_match_llama_cpp_python(engine, reference_llm):
    trace = engine.answer([], QUESTION, settings=settings(scorer="judge", max_stage_tokens=10))
    prompt = engine.prompt_units(QUESTION, [])
    stage, spec, judge = trace.stages[0], engine._stage_specs[0], engine._judge_params
    cands = stage.candidates
    for a, b in ((0, 1), (2, 3)):  # the first round's pairs

        def toks(i):
            return reference_llm.tokenize(_content(engine, "summary", cands[i].tokens), add_bos=False, special=False)

        judge_prompt = prompt + spec["judge_head"] + toks(a) + judge["judge_mid"] + toks(b) + judge["judge_tail"]
        last = _all_logits(reference_llm, judge_prompt)[-1]
        margin = last[judge["judge_choice_a"]] - last[judge["judge_choice_b"]]
        # the pair's loser keeps the score of this comparison
        recorded = -cands[b].score if margin >= 0 else cands[a].score
        assert recorded == pytest.approx(margin, abs=1e-2)


def test_greedy_search_equals_llama_cpp_python_in_every_stage(engine, reference_llm):
    trace = engine.answer([], QUESTION, settings=SearchSettings(beam=1, temperature=0.0, max_stage_tokens=16, seed=1))
    prefixes = _stage_prefixes(engine, engine.prompt_units(QUESTION, []), trace)
    for stage, prefix in zip(trace.stages, prefixes, strict=True):
        ours = stage.candidates[0].tokens
        theirs = []
        for tok in reference_llm.generate(prefix, temp=0.0, top_k=1, reset=True):
            if len(theirs) == len(ours):
                break
            theirs.append(tok)
        assert ours == theirs, stage.name


def test_beam_mean_logprobs_match_a_from_scratch_computation(engine, reference_llm):
    trace = engine.answer([], QUESTION, settings=settings(max_stage_tokens=10))
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


def test_several_images_are_each_encoded_once(engine, scene, scene_png):
    from PIL import Image

    from stagelens.images import load_image

    flipped = load_image(_flip(scene_png, Image), name="flipped.png")
    first = engine.answer([scene, flipped], QUESTION, settings=settings(beam=2))
    assert first.stats.image_encodes == 2
    third = load_image(scene_png, max_side=48)
    history = [Turn(QUESTION, (scene, flipped), first.assistant_text)]
    follow = engine.answer([third], "And in this one?", history=history, settings=settings(beam=2))
    assert follow.stats.image_encodes == 1


def test_other_python_threads_run_during_the_search(engine, scene):
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
        engine.answer(
            [scene], QUESTION, settings=settings(max_stage_tokens=24), on_event=on_event, stream_interval_ms=10**6
        )
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
    assert marks["end"] > marks["begin"]
