"""Every catalog family, on its twin, against llama.cpp's own path fed the same ids.

The reference is llama.cpp at the C level (tests/fixtures/reference.py: mtmd_tokenize, the image
chunks through mtmd_helper_eval_chunk_single, llama_decode), never StageLens. Both run with flash
attention off: with llama.cpp's default (auto = on) a batched prefill and token-by-token decoding
of the same ids differ by up to ~1e-2 in a logit on Qwen2.5-VL and ~1 on LLaVA at 2.9k tokens,
which flips near-ties (README, "Flash attention"). Measured with it off, engine vs reference, every
twin: logits within 8e-5 of each other (largest |logit| ~45), so the tolerances below are ~10x that.

The prompt is StageLens's default: none of these families is trained on the four-stage format, so
each is told the format instruction, in its system turn, or at the start of the first user turn
(LLaVA's Mistral template has no system role); the judge uses the first answer labels the
vocabulary tells apart. Each test names the prompt it used through `trace.prompt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from tests.fixtures.engine import FOLLOW_UP, QUESTION, past, search
from tests.fixtures.twins import TWIN_KEYS, noise_image, twin_engine, twin_files

from stagelens.engine import Engine, PastTurn, SearchSettings, Trace, UserTurn
from stagelens.images import PreparedImage
from stagelens_dev.llama_reference import Reference, same_ids
from stagelens_dev.testmodels.twins import BY_KEY

GREEDY = SearchSettings(beam=1, temperature=0.0, max_stage_tokens=12, seed=1)
LOGIT_ATOL = 1e-3  # |engine - llama.cpp| of any logit (measured: <= 8e-5, largest |logit| ~45)
LOGPROB_ATOL = 2e-3  # of a candidate's mean log-probability
TIE = 5e-3  # a greedy step whose top-2 logits are closer may go either way (follow-ups: paths differ by <= 1e-3)

# image chunks libmtmd makes of one picture (tiles + overview), per family: FAMILIES.md in the research notes
CHUNKS_448 = {"smolvlm": 17, "smolvlm2": 17, "internvl": 1, "qwen3-vl": 1, "qwen2.5-vl": 1, "gemma3": 1, "llava-1.6": 5}
CHUNKS_900x600 = {
    "smolvlm": 13,
    "smolvlm2": 13,
    "internvl": 5,
    "qwen3-vl": 1,
    "qwen2.5-vl": 1,
    "gemma3": 1,
    "llava-1.6": 5,
}
SYSTEM_ROLE = {"llava-1.6": False}  # the rest have one (Gemma 3's puts it into the first user turn)
# the judge's answers: the twin's SentencePiece vocabulary has no "▁A"/"▁B", so " A" and " B" start alike
JUDGE_CHOICES = {"llava-1.6": ("A", "B")}
# the template writes {{ bos_token }} (Gemma 3, LLaVA) or SmolLM's BOS <|im_start|> itself; Qwen has none
STARTS_WITH_BOS = ("smolvlm", "smolvlm2", "gemma3", "llava-1.6")


@dataclass
class Twin:
    key: str
    engine: Engine
    ref: Reference
    image: PreparedImage
    first_turn: UserTurn
    prompt: list = field(default_factory=list)  # the engine's units of the first turn

    def tail_after_image(self, units: list) -> list[int]:
        """The units after the primed image (the reference holds everything up to it)."""
        head = units[: self.ref.primed_units]
        assert [u for u in head if not isinstance(u, int)], "the image is in the primed head"
        rest = units[self.ref.primed_units :]
        assert all(isinstance(u, int) for u in rest), "one image per conversation in these tests"
        return [int(u) for u in rest]

    def answer_first(self, settings: SearchSettings = GREEDY) -> Trace:
        return self.engine.answer(self.first_turn, settings=settings)


@pytest.fixture(scope="module", params=TWIN_KEYS)
def twin(request, tmp_path_factory):
    files = twin_files(tmp_path_factory.getbasetemp() / "twins", request.param)
    engine = twin_engine(files)
    ref = Reference(files.text, files.mmproj, n_ctx=engine.settings.n_ctx, n_batch=2048)
    image = noise_image(64, 64)
    turn = UserTurn(QUESTION, (image,))
    rendered = engine.renderer.first(turn, engine.format_prompt().instruction)
    infos = ref.prime(rendered.text, [image], rendered.add_special)
    twin = Twin(request.param, engine, ref, image, turn, engine.prompt_units(QUESTION, [image]))
    assert same_ids(twin.prompt, infos), "the engine reads exactly what mtmd_tokenize makes of the prompt"
    yield twin
    engine.close()
    ref.close()


def _plain(units: list) -> list:
    return [u if isinstance(u, int) else (u.id, u.n_tokens, u.n_pos) for u in units]


def _first_stage(trace: Trace) -> list[int]:
    return next(c for c in trace.stages[0].candidates if c.selected).tokens


def _assert_same_greedy(ours: list[int], ref: Reference) -> None:
    """Ours equals llama.cpp's greedy continuation, or parts from it only at a tie."""
    theirs, gaps = ref.greedy(len(ours))
    for k, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            assert gaps[k] < TIE, f"token {k} differs ({a} vs {b}) with a top-2 gap of {gaps[k]:.4f}: not a tie"
            return
    assert len(theirs) >= len(ours) or theirs == ours[: len(theirs)]


# --------------------------------------------------------------------------------- the family itself


def test_the_template_is_read_as_llama_cpp_reads_it(twin):
    family = BY_KEY[twin.key]
    template = twin.engine.template
    assert template.typed_content == family.typed_content
    assert template.system_role == SYSTEM_ROLE.get(twin.key, True)
    assert template.turn_pieces() is not None, "follow-ups and the judge's own turn work on every template"
    told = twin.engine.format_prompt()
    assert told.instruction and told.placement == ("system" if template.system_role else "first user turn")
    rendered = twin.engine.renderer.first(twin.first_turn, told.instruction).text
    assert told.instruction in rendered and twin.engine.marker in rendered and QUESTION in rendered
    assert twin.engine.judge_choices == JUDGE_CHOICES.get(twin.key, (" A", " B"))
    # the real BOS and EOS strings: one BOS at the start, whoever writes it; EOS where the template puts it
    bos, eos = twin.engine.info["bos"], twin.engine.info["eos"]
    assert twin.prompt[:2].count(bos) <= 1
    assert (twin.prompt[0] == bos) == (twin.key in STARTS_WITH_BOS)
    if "eos_token" in (twin.engine.info["chat_template"] or ""):
        end_of_answer = twin.engine.tokenize(template.turn_pieces()[0])  # type: ignore[index]
        assert end_of_answer[0] == eos, "a past answer ends with the model's real end-of-sequence token"


def test_image_chunks_and_their_starts(twin):
    for image, expected in ((noise_image(448, 448), CHUNKS_448), (noise_image(900, 600), CHUNKS_900x600)):
        units = twin.engine.prompt_units(QUESTION, [image])
        chunks = [u for u in units if not isinstance(u, int)]
        assert len(chunks) == expected[twin.key], image.name
        assert [c.image_start for c in chunks] == [True] + [False] * (len(chunks) - 1)
        rendered = twin.engine.renderer.first(UserTurn(QUESTION, (image,)), twin.engine.format_prompt().instruction)
        _, infos = twin.ref.tokenize(rendered.text, [image], rendered.add_special)
        assert same_ids(units, infos), image.name


# ------------------------------------------------------------------------------------------- parity


def test_greedy_first_stage_equals_llama_cpp(twin):
    twin.engine.reset_cache()
    trace = twin.answer_first()
    n_chunks = sum(not isinstance(u, int) for u in twin.prompt)
    assert (trace.stats.image_encodes, trace.stats.image_chunks) == (1, n_chunks)
    assert trace.prompt["format_instruction"] == twin.engine.format_prompt().instruction
    ours = _first_stage(trace)
    assert ours, "the model wrote something"
    twin.ref.from_image(twin.tail_after_image(twin.prompt) + twin.engine.stage_specs[0].open_tokens)
    _assert_same_greedy(ours, twin.ref)


def test_logits_after_the_prompt_equal_llama_cpp(twin):
    open_tokens = twin.engine.stage_specs[0].open_tokens
    (row,) = twin.engine.fork_logits(twin.prompt, [open_tokens])
    twin.ref.from_image(twin.tail_after_image(twin.prompt) + open_tokens)
    diff = np.abs(np.frombuffer(row, np.float32) - twin.ref.logits()).max()
    assert diff < LOGIT_ATOL


def test_every_forked_beam_equals_a_from_scratch_decode(twin):
    rng = np.random.default_rng(0)
    n_vocab = twin.engine.info["n_vocab"]
    branches = [list(map(int, rng.integers(0, n_vocab, size=n))) for n in (5, 9, 1, 7)]
    forked = twin.engine.fork_logits(twin.prompt, branches)
    tail = twin.tail_after_image(twin.prompt)
    for branch, row in zip(branches, forked, strict=True):
        twin.ref.from_image(tail + branch)  # one batch: the prompt's text and the whole branch
        diff = np.abs(np.frombuffer(row, np.float32) - twin.ref.logits()).max()
        assert diff < LOGIT_ATOL, f"branch of {len(branch)}"


def _reference_mean_logprob(twin, prefix: list[int], tokens: list[int]) -> float:
    """llama.cpp's mean log-probability of `tokens` read after the image and `prefix`, from scratch."""
    twin.ref.from_image(prefix)
    logprobs = []
    for tok in tokens:
        row = twin.ref.logits()
        logprobs.append(row[tok] - row.max() - np.log(np.exp(row - row.max()).sum()))
        twin.ref.decode([tok])
    return float(np.mean(logprobs))


@pytest.mark.parametrize("scorer", ["logprob", "judge"])
def test_beam_4(twin, scorer):
    twin.answer_first()  # the first turn is held: a new answer to it reads nothing again
    trace = twin.answer_first(search(beam=4, scorer=scorer, max_stage_tokens=10))
    assert trace.stats.image_encodes == 0 and trace.stats.prompt_tokens == 0
    assert [len(s.candidates) for s in trace.stages] == [4, 4, 4, 4]
    assert all(sum(c.selected for c in s.candidates) == 1 for s in trace.stages)
    if scorer == "judge":
        assert trace.stats.judge_calls == sum(3 - s.merged for s in trace.stages)  # duplicates are not judged
        assert trace.prompt["judge_choices"] == list(twin.engine.judge_choices)
        assert all(next(c for c in s.candidates if c.selected).score >= 0 for s in trace.stages)
        return
    # every candidate's mean log-probability, in every stage, from llama.cpp decoding it from scratch
    prefix = twin.tail_after_image(twin.prompt)
    checked = 0
    for spec, stage in zip(twin.engine.stage_specs, trace.stages, strict=True):
        if stage.forced_open:
            prefix += spec.open_tokens
        for cand in stage.candidates:
            if not cand.tokens or len(cand.tokens) != cand.n_tokens:  # cut at a stop or a loop: scored on more
                continue
            reference = _reference_mean_logprob(twin, prefix, cand.tokens)
            assert cand.mean_logprob == pytest.approx(reference, abs=LOGPROB_ATOL), stage.name
            checked += 1
        best = max(stage.candidates, key=lambda c: c.mean_logprob if c.mean_logprob is not None else -1e9)
        assert best.selected
        prefix += next(c for c in stage.candidates if c.selected).tokens
        if stage.forced_close:
            prefix += spec.close_tokens
    assert prefix == twin.tail_after_image(twin.prompt) + trace.assistant_tokens
    assert checked >= 4


def test_cached_follow_up_equals_llama_cpp_and_reads_only_its_turn(twin):
    first = twin.answer_first()
    pieces = twin.engine.renderer.follow_up(UserTurn(FOLLOW_UP))
    new_turn = twin.engine.tokenize(pieces.text)
    follow = twin.engine.answer(UserTurn(FOLLOW_UP), [past(twin.first_turn, first)], settings=GREEDY)
    assert follow.stats.image_encodes == 0
    assert follow.stats.prompt_tokens == len(new_turn) - 1  # the last one is decoded by each candidate
    trunk = twin.engine._native._trunk_units()
    prompt = trunk[: len(trunk) - len(follow.assistant_tokens)]
    assert _plain(prompt) == _plain(twin.prompt + first.assistant_tokens + new_turn)
    twin.ref.from_image(twin.tail_after_image(prompt) + twin.engine.stage_specs[0].open_tokens)
    _assert_same_greedy(_first_stage(follow), twin.ref)


# ------------------------------------------------------------------------------------------ robustness


def test_nul_and_control_bytes_in_answers_never_break_a_follow_up(twin):
    first = twin.answer_first()
    nasty = "\x00\x01\x07\x1b[31m\x7f"
    as_ids = first.assistant_tokens + twin.engine._native.tokenize(nasty.encode(), False, False)
    for earlier in (
        PastTurn(twin.first_turn, f"<SUMMARY>two{nasty}circles</SUMMARY>"),  # as text (another model's)
        PastTurn(twin.first_turn, first.assistant_text + nasty, tuple(as_ids), twin.engine.model_key),  # as ids
    ):
        trace = twin.engine.answer(UserTurn(f"And{nasty} now?"), [earlier], settings=search(beam=2, max_stage_tokens=4))
        assert len(trace.stages) == 4 and trace.stats.image_encodes == 0
    held = twin.engine._native._trunk_units()
    assert twin.engine._native.detokenize([u for u in held if isinstance(u, int)], False).count(b"\x00") >= 2


def test_stagelens_ask_with_the_judge(twin, tmp_path, capsys):
    import json

    from stagelens.cli import main

    files = twin_files(Path(twin.engine.settings.model).parent, twin.key)
    image = tmp_path / "picture.png"
    image.write_bytes(_png(twin.image))
    argv = ["ask", str(image), "-q", QUESTION, "--model", str(files.text), "--mmproj", str(files.mmproj)]
    argv += ["--scorer", "judge", "--beam", "2", "--max-stage-tokens", "4", "--threads", "1", "--json"]
    assert main(argv) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["stats"]["judge_calls"] == sum(1 - s["merged"] for s in trace["stages"])
    assert trace["prompt"]["judge_choices"] == list(twin.engine.judge_choices)


def _png(image: PreparedImage) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", image.sent_size, image.rgb).save(buf, "PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------ search methods


def test_best_of_n_answers_each_equal_llama_cpp_decoding_them_from_scratch(twin):
    twin.answer_first()  # the first turn is held
    trace = twin.answer_first(search(best_of=3, max_stage_tokens=6))
    assert trace.stats.image_encodes == 0 and trace.stats.prompt_tokens == 0 and len(trace.answers) == 3
    specs = twin.engine.stage_specs
    checked = 0
    for answer in trace.answers:  # each answer continues its own stages, in its own sequence
        prefix = twin.tail_after_image(twin.prompt)
        for spec, stage in zip(specs, trace.stages, strict=True):
            cand = stage.candidates[answer.index]
            prefix += spec.open_tokens
            if cand.tokens and len(cand.tokens) == cand.n_tokens:
                reference = _reference_mean_logprob(twin, prefix, cand.tokens)
                assert cand.mean_logprob == pytest.approx(reference, abs=LOGPROB_ATOL), stage.name
                checked += 1
            prefix += cand.tokens + ([] if cand.closed_by == "tag" else spec.close_tokens)
        if answer.selected:
            assert prefix == twin.tail_after_image(twin.prompt) + trace.assistant_tokens
    assert checked >= 4


@pytest.mark.parametrize("scorer", ["judge", "python"])
def test_best_of_n_ranked_by_the_judge_or_a_scorer_keeps_one_whole_answer(twin, scorer):
    from tests.fixtures.engine import assert_kv_is_the_trunk

    twin.answer_first()
    settings = search(best_of=3, scorer=scorer, max_stage_tokens=6, temperature=1.5)
    texts: list[str] = []

    def by_length(stage: str, answers: list[dict]) -> list[float]:
        texts.extend(a["text"] for a in answers)
        return [float(len(a["text"])) for a in answers]

    trace = twin.engine.answer(twin.first_turn, settings=settings, scorer=by_length if scorer == "python" else None)
    distinct = len({str([s.candidates[i].tokens for s in trace.stages]) for i in range(3)})
    kept = next(a.index for a in trace.answers if a.selected)
    if scorer == "judge":
        assert trace.stats.judge_calls == distinct - 1 == len(trace.answer_bracket)
    else:
        assert kept == max(range(3), key=lambda i: (len(texts[i]), -i))
    assert [s.text for s in trace.stages] == [s.candidates[kept].text for s in trace.stages]
    assert_kv_is_the_trunk(twin.engine)


@pytest.mark.parametrize("width", ["beam", "best_of"])
def test_a_verifier_model_scores_every_familys_candidates(twin, width):
    """The demo model (text only) as the verifier of each family's candidates: per stage with the beam,
    once for best-of-N's whole answers; the kept candidate is the verifier's best."""
    from stagelens.engine.verifier import Verifier
    from stagelens.models.default import demo_model
    from stagelens.settings.verifier import VerifierSettings

    demo = demo_model()
    if demo is None:
        pytest.skip("the demo model is not installed")
    verifier = Verifier(VerifierSettings(str(demo.text), None), twin.engine.settings, 1)
    twin.engine.attach_verifier(verifier)
    try:
        settings = search(**{width: 2}, scorer="verifier", max_stage_tokens=6, temperature=1.5)
        trace = twin.engine.answer(twin.first_turn, settings=settings)
    finally:
        twin.engine.attach_verifier(None)
    assert trace.stats.verifier_calls == (len(trace.stages) if width == "beam" else 1)
    assert trace.prompt["verifier"]["model"].endswith("demo-text.gguf)")
    if width == "beam":
        for stage in trace.stages:
            best = max(range(2), key=lambda i: (stage.candidates[i].score, -i))
            assert stage.candidates[best].selected
    else:
        best = max(trace.answers, key=lambda a: (a.score, -a.index))
        assert best.selected


def test_a_retraced_answer_leaves_the_kv_as_the_trunk(twin):
    from tests.fixtures.engine import assert_kv_is_the_trunk

    twin.answer_first()
    trace = twin.answer_first(search(beam=2, max_stage_tokens=6, retrace=2, retrace_margin=0.0))
    assert len(trace.retraces) >= 1 and len(trace.stages) == 4
    # a sliding-window cache may refuse going back (then everything is read again, the image too)
    assert trace.stats.image_encodes == (0 if twin.engine.info["n_swa"] <= 0 else trace.stats.image_encodes)
    assert_kv_is_the_trunk(twin.engine)
    follow = twin.engine.answer(UserTurn(FOLLOW_UP), [past(twin.first_turn, trace)], settings=GREEDY)
    assert follow.stats.image_encodes == 0
    assert_kv_is_the_trunk(twin.engine)
