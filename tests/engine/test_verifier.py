"""The verifier scorer: a second GGUF scoring candidates in its own context (engine/verifier.py, sl_verifier.c).

The demo model serves as a stand-in verifier (with its projector: a VLM judge; without: a text-only one),
the twins check the prompt pieces against their families' own chat templates token for token. Scores are
checked against references that do not use the verifier's native scoring: plain llama-cpp-python fed the
same ids (text only), and the engine's own fork_logits (with the image).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tests.fixtures.twins import twin_files

from stagelens.engine import Engine, LoadSettings, SearchSettings, UserTurn
from stagelens.engine.verifier import Verifier, VerifierError
from stagelens.engine.verifier_prompt import messages
from stagelens.images import PreparedImage, load_image
from stagelens.models.default import demo_model
from stagelens.settings.verifier import VerifierSettings

DEMO = demo_model()
pytestmark = pytest.mark.skipif(DEMO is None, reason="the demo model is not installed")
QUESTION = "What color is the triangle?"
STEPS = ["I need to find the triangle and name its color.", "(2,4) large green circle; (8,7) small yellow triangle."]
CANDIDATES = [
    "There is one triangle: the small yellow triangle at (8,7). So the triangle is yellow.",
    "There is no triangle.",
    "There is one triangle: the small yellow triangle at (8,7). So the triangle is yellow.",  # a duplicate
]
ATOL = 1e-3  # |verifier score - reference| (batched vs one sequence, flash attention off)


def _load(**kw) -> LoadSettings:
    assert DEMO is not None
    return LoadSettings(str(DEMO.text), str(DEMO.mmproj), n_ctx=2048, n_threads=1, max_beam=4, flash_attn="off", **kw)


def _verifier(mmproj: bool, fmt: str = "auto", mode: str = "process", text: str | None = None) -> Verifier:
    assert DEMO is not None
    settings = VerifierSettings(text or str(DEMO.text), str(DEMO.mmproj) if mmproj else None, mode, fmt)
    return Verifier(settings, _load(), 1)


@pytest.fixture(scope="module")
def scene() -> PreparedImage:
    assert DEMO is not None
    return load_image(Path(DEMO.text).parent / "heldout" / "0000.png")


@pytest.fixture(scope="module")
def text_verifier():
    with _verifier(mmproj=False) as v:
        yield v


@pytest.fixture(scope="module")
def vlm_verifier():
    with _verifier(mmproj=True) as v:
        yield v


@pytest.fixture(scope="module")
def engine():
    with Engine(_load()) as eng:
        yield eng


def _branch(v: Verifier, steps: list[str], cand: str) -> list[int]:
    ids: list[int] = []
    for step in steps:
        ids += v.tokenize(step, False) + v.between_tokens
    return ids + v.tokenize(cand, False) + v.tail_tokens


def test_the_demo_model_is_a_judge_with_its_own_yes_no_words(text_verifier: Verifier) -> None:
    # its name has no "PRM": the judge format; its vocabulary has "yes"/"no" as single tokens, not "Yes"/"No"
    assert text_verifier.format == "judge" and text_verifier.words == ("yes", "no")


@pytest.mark.parametrize("fmt", ["judge", "prm"])
def test_text_only_scores_equal_plain_llama_cpp_on_the_same_ids(fmt: str) -> None:
    import llama_cpp

    assert DEMO is not None
    with _verifier(mmproj=False, fmt=fmt) as v:
        v.read(UserTurn(QUESTION, ()))
        scores = v.score(STEPS, CANDIDATES)
        prefix = v.units()
        assert all(isinstance(u, int) for u in prefix)
        good, bad = v.good, v.bad
        branches = [prefix + _branch(v, STEPS, c) for c in CANDIDATES]
    assert scores[0] == scores[2] and scores[0] != scores[1]
    ref = llama_cpp.Llama(str(DEMO.text), n_ctx=2048, n_threads=1, logits_all=True, verbose=False, flash_attn=False)
    try:
        for ids, score in zip(branches, scores, strict=True):
            ref.reset()
            ref.eval(ids)
            logits = np.asarray(ref.scores[ref.n_tokens - 1])
            assert score == pytest.approx(float(logits[good] - logits[bad]), abs=ATOL)
    finally:
        ref.close()


def test_with_its_projector_scores_equal_the_engines_own_logits(vlm_verifier: Verifier, scene) -> None:
    turn = UserTurn(QUESTION, (scene,))
    vlm_verifier.read(turn)
    scores = vlm_verifier.score(STEPS, CANDIDATES)
    prefix = vlm_verifier.units()
    assert sum(not isinstance(u, int) for u in prefix) >= 1  # the image is in the verifier's prefix
    branches = [_branch(vlm_verifier, STEPS, c) for c in CANDIDATES]
    for raw, score in zip(vlm_verifier.fork_logits(prefix, branches), scores, strict=True):
        logits = np.frombuffer(raw, dtype=np.float32)
        assert score == pytest.approx(float(logits[vlm_verifier.good] - logits[vlm_verifier.bad]), abs=ATOL)


def test_an_m_rope_twin_with_its_projector_scores_equal_its_own_logits(tmp_path_factory, scene) -> None:
    """Qwen2.5-VL advances fewer positions than its image takes cells: the steps continue from the
    projector's positions, as the candidates do."""
    files = twin_files(tmp_path_factory.getbasetemp() / "twins", "qwen2.5-vl")
    settings = VerifierSettings(str(files.text), str(files.mmproj), "process", "prm")
    with Verifier(settings, _load(), 1) as v:
        assert v.sees_images
        v.read(UserTurn(QUESTION, (scene,)))
        scores = v.score(STEPS, CANDIDATES[:2])
        prefix = v.units()
        branches = [_branch(v, STEPS, c) for c in CANDIDATES[:2]]
        for raw, score in zip(v.fork_logits(prefix, branches), scores, strict=True):
            logits = np.frombuffer(raw, dtype=np.float32)
            assert score == pytest.approx(float(logits[v.good] - logits[v.bad]), abs=ATOL)


@pytest.mark.parametrize("family", ["internvl", "qwen2.5-vl"])
@pytest.mark.parametrize("mode", ["process", "outcome"])
def test_the_pieces_are_the_familys_template_rendered_in_one_go_token_for_token(
    tmp_path_factory: pytest.TempPathFactory, family: str, mode: str
) -> None:
    files = twin_files(tmp_path_factory.getbasetemp() / "twins", family)
    with _verifier(mmproj=False, fmt="prm", mode=mode, text=str(files.text)) as v:
        v.read(UserTurn(QUESTION, ()))
        built = v.units() + _branch(v, STEPS, CANDIDATES[0])
        whole = v.template.render(messages("prm", mode, QUESTION, [*STEPS, CANDIDATES[0]], 0, v.marker, v.words))
        prompt = v.prompt(UserTurn(QUESTION, ()))
        expected = list(v._native.tokenize(whole.encode(), prompt.add_special, True))
        assert "### Solution Process:\n" + STEPS[0] in whole and whole.count("assistant\n+") == len(STEPS)
    assert built == expected


@pytest.mark.parametrize("mode", ["process", "outcome"])
def test_each_mode_picks_the_best_verifier_score_given_the_stages_chosen(engine: Engine, scene, mode: str) -> None:
    verifier = _verifier(mmproj=True, mode=mode)
    engine.attach_verifier(verifier)  # closed with attach_verifier(None)
    try:
        engine.reset_cache()
        settings = SearchSettings(beam=3, scorer="verifier", seed=3)
        trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=settings)
        chosen: list[str] = []
        decided = 0
        for stage in trace.stages:
            scores = [c.score for c in stage.candidates]
            assert all(s is not None for s in scores)
            best = max(range(len(scores)), key=lambda i: (scores[i], -i))
            assert stage.candidates[best].selected
            # recomputed afresh: the search chose by the verifier's scores, given the stages chosen before
            verifier.read(UserTurn(QUESTION, (scene,)))
            texts = [c.text for c in stage.candidates]
            if mode == "process":
                again = verifier.score(chosen, texts)
            else:
                again = verifier.score([], ["\n\n".join([*chosen, t]) for t in texts])
            assert again == pytest.approx(scores, abs=ATOL)
            by_logprob = max(range(len(scores)), key=lambda i: stage.candidates[i].mean_logprob or -math.inf)
            decided += by_logprob != best
            chosen.append(texts[best])
    finally:
        engine.attach_verifier(None)
    assert decided >= 1  # the verifier, not the log-probability, made at least one choice
    assert trace.prompt["verifier"]["mode"] == mode


def test_outcome_mode_scores_the_answer_so_far_as_one_piece(scene) -> None:
    with _verifier(mmproj=True, mode="outcome") as v:
        turn = UserTurn(QUESTION, (scene,))
        scorer = v.stage_scorer(turn)
        first = scorer("summary", [{"text": t} for t in ("Find the triangle.", "Count the circles.")])
        chosen = ["Find the triangle.", "Count the circles."][0 if first[0] >= first[1] else 1]
        second = scorer("caption", [{"text": c} for c in CANDIDATES[:2]])
        assert second == pytest.approx(v.score([], [f"{chosen}\n\n{c}" for c in CANDIDATES[:2]]), abs=ATOL)
        answers = v.score_answers(turn, CANDIDATES)
        assert answers == pytest.approx(v.score([], CANDIDATES), abs=1e-9) and answers[0] == answers[2]


@pytest.mark.parametrize("mode", ["process", "outcome"])
def test_best_of_n_keeps_the_whole_answer_the_verifier_scores_best(engine: Engine, scene, mode: str) -> None:
    verifier = _verifier(mmproj=True, mode=mode)
    engine.attach_verifier(verifier)
    try:
        engine.reset_cache()
        turn = UserTurn(QUESTION, (scene,))
        trace = engine.answer(
            turn, settings=SearchSettings(best_of=3, scorer="verifier", temperature=1.0, seed=4, max_stage_tokens=48)
        )
        texts = ["\n\n".join(s.candidates[i].text for s in trace.stages) for i in range(3)]
        # whole answers are outcomes in either mode: one call, each answer read as one piece
        assert trace.stats.verifier_calls == 1 and trace.stats.verifier_prompts == len(set(texts))
        scores = [a.score for a in trace.answers]
        assert scores == pytest.approx(verifier.score_answers(turn, texts), abs=ATOL)
        best = max(range(3), key=lambda i: (scores[i], -i))  # type: ignore[arg-type]
        assert [a.selected for a in trace.answers] == [i == best for i in range(3)]
        assert all(s.candidates[best].selected for s in trace.stages)
    finally:
        engine.attach_verifier(None)


def test_the_image_is_encoded_once_for_the_verifier_and_its_cost_is_its_own(engine: Engine, scene) -> None:
    turn = UserTurn(QUESTION, (scene,))
    engine.reset_cache()
    plain = engine.answer(turn, settings=SearchSettings(beam=2, seed=5))
    verifier = engine.load_verifier(VerifierSettings(str(DEMO.text), str(DEMO.mmproj)))  # type: ignore[union-attr]
    try:
        engine.reset_cache()
        first = engine.answer(turn, settings=SearchSettings(beam=2, scorer="verifier", seed=5))
        again = engine.answer(turn, settings=SearchSettings(beam=2, scorer="verifier", seed=6))
    finally:
        engine.attach_verifier(None)
    s = first.stats
    assert s.verifier_calls == len(first.stages) and s.verifier_image_encodes == 1 and s.verifier_tokens > 0
    assert s.image_encodes == 1 and s.prompt_tokens == plain.stats.prompt_tokens  # the model's own count
    assert s.judge_calls == 0 and 0 < s.verifier_s < s.wall_s
    assert again.stats.verifier_image_encodes == 0 and again.stats.verifier_calls == len(again.stages)
    assert verifier.cost.image_encodes == 1


def test_a_verifier_without_the_score_tokens_is_one_line(tiny_model) -> None:
    with pytest.raises(VerifierError) as err:
        Verifier(VerifierSettings(str(tiny_model.text), None, "process", "judge"), _load(), 1)
    assert "no single tokens for 'Yes'/'No' or 'yes'/'no'" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("path", "says"), [("/nonexistent/v.gguf", "does not exist"), ("/", "is a folder"), (__file__, "could not load")]
)
def test_a_bad_verifier_file_is_one_line(path: str, says: str) -> None:
    with pytest.raises(VerifierError, match=says) as err:
        Verifier(VerifierSettings(path), _load(), 1)
    assert "\n" not in str(err.value)


def test_the_verifier_scorer_without_a_verifier_is_refused(engine: Engine, scene) -> None:
    with pytest.raises(ValueError, match="needs a verifier model"):
        engine.answer(UserTurn(QUESTION, (scene,)), settings=SearchSettings(beam=2, scorer="verifier", seed=1))


def test_a_cancel_mid_answer_gives_a_partial_trace(engine: Engine, vlm_verifier, scene) -> None:
    from stagelens.engine import native

    cancel = native.CancelFlag()
    engine.attach_verifier(vlm_verifier)
    try:
        engine.reset_cache()
        trace = engine.answer(
            UserTurn(QUESTION, (scene,)),
            settings=SearchSettings(beam=2, scorer="verifier", seed=2),
            on_event=lambda e: cancel.set() if e.kind == "stage_end" else None,
            cancel=cancel,
        )
    finally:
        engine.verifier = None  # the module's fixture closes it
    assert trace.cancelled and trace.stats.verifier_calls >= 1 and len(trace.stages) < 4
