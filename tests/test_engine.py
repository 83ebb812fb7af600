"""The native stage-level beam search, driven through stagelens.engine with the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stagelens.engine import (
    STAGE_NAMES,
    CancelFlag,
    ContextOverflowError,
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
        [scene], QUESTION, settings=settings(max_stage_tokens=64), on_event=on_event, cancel=cancel,
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
