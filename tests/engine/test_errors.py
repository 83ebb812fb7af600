"""Error paths: every failure is an exception with a clear message, and the engine goes on."""

from __future__ import annotations

import pytest
from tests.fixtures.engine import QUESTION, search

from stagelens.engine import (
    ContextOverflowError,
    DecodeError,
    Engine,
    EngineError,
    ImageRejectedError,
    KVCacheFullError,
    LoadSettings,
    ModelLoadError,
    NoVisionError,
    Trace,
    UserTurn,
)
from stagelens.engine import native as native_module


@pytest.fixture()
def ask(scene):
    return UserTurn(QUESTION, (scene,))


def _stage_texts(trace: Trace) -> list[list[str]]:
    return [[c.text for c in stage.candidates] for stage in trace.stages]


def test_prompt_longer_than_context(make_engine, scene):
    small = make_engine(n_ctx=256)
    with pytest.raises(ContextOverflowError, match="context holds"):
        small.answer(UserTurn("why " * 300, (scene,)), settings=search(beam=1))
    # and it still works for a question that fits
    fits = search(beam=1, max_stage_tokens=8, format_instruction="")  # the instruction alone is ~200 tokens
    assert small.answer(UserTurn(QUESTION, (scene,)), settings=fits).conclusion is not None


def test_search_that_cannot_fit_is_refused_before_any_work(make_engine, ask):
    small = make_engine(n_ctx=512)
    with pytest.raises(ContextOverflowError, match="lower the beam width"):
        small.answer(ask, settings=search(beam=8, max_stage_tokens=200))


def test_no_kv_slot_is_an_exception(make_engine, scene):
    small = make_engine(n_ctx=256)
    prompt = small.prompt_units(QUESTION, [scene])
    with pytest.raises(KVCacheFullError, match="KV-cache slot"):
        small.fork_logits(prompt, [[65] * 200, [66] * 200])


def test_model_without_vision(tiny_model):
    with pytest.raises(NoVisionError, match="not a vision projector"):
        Engine(LoadSettings(str(tiny_model.text), str(tiny_model.text)))
    with pytest.raises(NoVisionError, match="without a vision projector"):
        Engine(LoadSettings(str(tiny_model.text), None))


def test_bad_model_files(tiny_model, tmp_path):
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
        engine._native.prepare(b"no marker here", [(*scene.sent_size, scene.rgb, scene.digest)], False)


@pytest.mark.parametrize("after", [1, 2, 5, 30])  # the prompt, a stage's first step, mid-stage, later
def test_decode_failure_is_an_exception_and_leaves_no_stale_cache(engine, ask, after):
    reference = engine.answer(ask, settings=search(beam=2))
    engine.reset_cache()
    engine._native._inject_fault("decode", after)
    with pytest.raises(DecodeError, match="llama_decode failed with code -1 while"):
        engine.answer(ask, settings=search(beam=2))
    again = engine.answer(ask, settings=search(beam=2))
    assert _stage_texts(again) == _stage_texts(reference), "what the failed call left in the cache was not reused"


def test_image_the_projector_rejects_is_an_exception_and_the_engine_goes_on(engine, ask):
    engine.reset_cache()
    engine._native._inject_fault("image", 1)
    with pytest.raises(ImageRejectedError, match="could not encode the image"):
        engine.answer(ask, settings=search(beam=2))
    again = engine.answer(ask, settings=search(beam=2))
    assert again.stats.image_encodes == 1 and len(again.stages) == 4
    with pytest.raises(ValueError, match="unknown fault"):
        engine._native._inject_fault("disk", 1)


def test_beam_beyond_what_was_loaded(engine, ask):
    with pytest.raises(ValueError, match="loaded for"):
        engine.answer(ask, settings=search(beam=64))


def test_reentrant_calls_are_refused_not_crashed(engine, ask):
    refused = []

    def on_event(ev):
        if not refused and ev.kind != "reading":  # "reading" comes before the search starts
            with pytest.raises(EngineError, match="busy"):
                engine._native.tokenize("hello", False, True)
            refused.append(ev)

    engine.answer(ask, settings=search(beam=2), on_event=on_event)
    assert refused


def test_judge_search_that_cannot_fit_is_refused_before_the_kv_fills(make_engine, ask):
    # batched judging runs while the candidates still hold their cells: the pre-check must count both
    small = make_engine(n_ctx=640)
    fitted, refused = [], []
    for budget in range(8, 97, 8):
        small.reset_cache()
        try:
            small.answer(ask, settings=search(beam=4, scorer="judge", max_stage_tokens=budget))
        except ContextOverflowError:
            refused.append(budget)
            continue
        except KVCacheFullError as exc:
            pytest.fail(f"stage budget {budget}: the pre-check passed but the KV cache filled: {exc}")
        fitted.append(budget)
    assert fitted and refused  # the sweep crosses the limit


def test_too_long_closing_tag_is_refused_not_truncated(engine, ask):
    long_close = "</" + "CONCLUDING REMARKS AND OTHER WORDS " * 8 + ">"
    stages = list(engine.stage_specs[:2])
    stages[0] = stages[0]._replace(close_text=long_close, close_tokens=engine.tokenize(long_close))
    assert len(stages[0].close_tokens) > 64
    with pytest.raises(ValueError, match="closing tag"):
        engine._native.configure(stages, engine.judge_spec)
    # refused as a whole: the engine keeps its own stages
    assert [s.name for s in engine.answer(ask, settings=search(beam=1)).stages] == [s.name for s in engine.stage_specs]


def test_token_text_longer_than_256_bytes_is_kept(tmp_path):
    from stagelens_dev.testmodels import TINY, vocabulary, write_text_model

    long_token = "<|" + "long" * 80 + "|>"
    text = tmp_path / "tiny-text.gguf"
    write_text_model(text, TINY, vocab=vocabulary(extra_special_tokens=(long_token,)))
    eng = native_module.NativeEngine(str(text), None, 0, 256, 64, 1, 2, -1)
    try:
        (tok,) = eng.tokenize(long_token, False, True)
        assert eng.detokenize([65, tok, 66], True) == b"A" + long_token.encode() + b"B"
    finally:
        eng.close()


def test_native_types_take_no_defaults(tiny_model):
    with pytest.raises(TypeError, match="required argument"):
        native_module.NativeEngine(str(tiny_model.text), None)
    with pytest.raises(TypeError, match="required argument"):
        native_module.SearchParams(2, 12)
    with pytest.raises(TypeError, match="required argument"):  # retrace, its margin and best-of too
        native_module.SearchParams(2, 12, 0.6, 0.9, 40, 7, native_module.SCORERS["judge"], 0, True, 50)
    params = native_module.SearchParams(2, 12, 0.6, 0.9, 40, 7, native_module.SCORERS["judge"], 0, True, 50, 2, 0.5, 1)
    assert (params.beam, params.max_stage_tokens, params.top_k, params.seed, params.force_stages) == (
        2,
        12,
        40,
        7,
        True,
    )
    assert (params.retrace, params.retrace_margin, params.best_of) == (2, 0.5, 1)
    with pytest.raises(ValueError, match="32 bits"):
        native_module.SearchParams(2, 12, 0.6, 0.9, 40, 2**32, 0, 0, True, 50, 0, 1.0, 1)


def test_judge_choices_are_only_checked_when_the_judge_is_used(make_engine, ask, monkeypatch):
    from stagelens.engine import TemplateError
    from stagelens.engine import engine as engine_module

    monkeypatch.setattr(engine_module, "pick_judge_labels", lambda *args: (None, -1, -1))  # no pair is usable
    eng = make_engine()
    assert eng.judge_choices is None
    assert eng.answer(ask, settings=search(beam=2)).conclusion is not None
    with pytest.raises(TemplateError, match="judge scorer cannot be used"):
        eng.answer(ask, settings=search(beam=2, scorer="judge"))
