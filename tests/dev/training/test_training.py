"""Training the demo model: the losses fall, a run is reproducible and resumable, the export loads and
the judge prompt trained on is the one the engine builds."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stagelens.engine import Engine, LoadSettings  # noqa: E402
from stagelens.engine.stage_text import stage_texts  # noqa: E402
from stagelens_dev.training.batches import encode_judge, patch_targets  # noqa: E402
from stagelens_dev.training.export import export_model, load_gguf  # noqa: E402
from stagelens_dev.training.prompts import engine_texts, judge_choices, judge_pieces, prompt_suffix  # noqa: E402
from stagelens_dev.training.questions import random_example  # noqa: E402
from stagelens_dev.training.scenes import Scene, Shape  # noqa: E402
from stagelens_dev.training.train import Recipe, build, resume, run, train  # noqa: E402

TINY = {
    "v_embd": 32,
    "v_layers": 1,
    "v_heads": 2,
    "v_ff": 64,
    "n_embd": 64,
    "n_layers": 1,
    "n_heads": 2,
    "n_kv_heads": 1,
    "n_ff": 128,
    "n_ctx": 512,
}
QUIET = {"save_every": 0, "log": lambda _: None}


def _recipe(**kw) -> Recipe:
    return replace(Recipe(config=TINY, probe_steps=2, probe_batch=4, steps=4, batch=4, judge_batch=2, warmup=2), **kw)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_short_training_run_lowers_every_loss(tmp_path: Path) -> None:
    recipe = _recipe(probe_steps=15, probe_batch=8, steps=25, batch=8, judge_batch=4, lr=3e-3, probe_lr=3e-3, warmup=5)
    _, _, history = train(tmp_path, recipe, **QUIET)
    probe = [h["probe_loss"] for h in history]
    joint = [h for h in history if "loss" in h]
    assert len(history) == 40 and len(joint) == 25
    assert np.mean(probe[-5:]) < probe[0] - 0.5, probe
    assert np.mean([h["loss"] for h in joint[-5:]]) < joint[0]["loss"] - 1.0
    assert np.mean([h["judge_loss"] for h in joint[-5:]]) < joint[0]["judge_loss"]
    assert (tmp_path / "checkpoint.pt").is_file()


def test_training_is_reproducible_from_its_seed_and_resumes_exactly(tmp_path: Path) -> None:
    runs = [train(tmp_path / str(i), _recipe(), **QUIET)[2] for i in range(2)]
    losses = [[h.get("loss", h["probe_loss"]) for h in r] for r in runs]
    assert losses[0] == losses[1]
    other_seed = train(tmp_path / "other", _recipe(seed=1), **QUIET)[2]
    assert [h.get("loss", h["probe_loss"]) for h in other_seed] != losses[0]
    # stop after 4 of 6 steps, resume from the checkpoint: the same last two steps
    tr = build(_recipe())
    run(tr, tmp_path / "cut", stop_after=4, **QUIET)
    resumed = resume(tmp_path / "cut" / "checkpoint.pt")
    rest = run(resumed, tmp_path / "cut", **QUIET)
    assert [h["loss"] for h in rest] == [h["loss"] for h in runs[0][4:]]


def test_a_second_stage_starts_from_the_first_ones_weights_with_its_own_schedule(tmp_path: Path) -> None:
    first, _, _ = train(tmp_path / "first", _recipe(), **QUIET)
    start = str(tmp_path / "first" / "checkpoint.pt")
    second = build(_recipe(config={}, init_from=start, probe_steps=0, steps=2, position_weight=0.5))
    assert second.step == 0 and second.recipe.init_from == start
    for name, value in first.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], value), name
    with pytest.raises(ValueError, match="keeps the checkpoint's architecture"):
        build(_recipe(init_from=start))
    history = run(second, tmp_path / "second", **QUIET)
    assert len(history) == 2 and history[0]["lr"] < second.recipe.lr  # its own warm-up
    assert history[0]["reasoning_loss"] > 0


def test_stage_weights_change_the_answer_loss_and_ones_change_nothing(tmp_path: Path) -> None:
    def first_step(name: str, **kw) -> dict:
        return train(tmp_path / name, _recipe(probe_steps=0, **kw), **QUIET)[2][0]

    plain = first_step("plain")
    assert first_step("ones", stage_weights=(1.0, 1.0, 1.0, 1.0))["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    # only the caption weighed: the answer loss is the caption's
    caption_only = first_step("caption", stage_weights=(0.0, 1.0, 0.0, 0.0))["loss"]
    assert caption_only == pytest.approx(plain["caption_loss"], rel=1e-3) and caption_only != plain["loss"]


def test_probe_targets_mark_centres_and_cover() -> None:
    scene = Scene((Shape("square", "blue", "large", 9, 20, 44), Shape("circle", "red", "small", 4, 50, 10)))
    centre, cover = patch_targets(scene, 8)
    assert sorted(np.flatnonzero(centre)) == [1 * 8 + 6, 5 * 8 + 2]  # (col 7,row 2) and (col 3,row 6), 0-based
    assert centre[5 * 8 + 2] != centre[1 * 8 + 6]
    assert cover[5 * 8 + 2] == cover[4 * 8 + 2] != 0  # the large square spans rows 5-6 of column 3
    assert cover[0] == 0 and (cover != 0).sum() > (centre != 0).sum()


def test_export_round_trips_loads_in_the_engine_and_the_judge_prompt_matches(tmp_path: Path) -> None:
    model, tok, _ = train(tmp_path, _recipe(probe_steps=0, steps=1), **QUIET)
    text, mmproj = export_model(model, tok, tmp_path)
    loaded, loaded_tok = load_gguf(text, mmproj)
    assert loaded_tok.tokens == tok.tokens and loaded_tok.merges == tok.merges
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with Engine(LoadSettings(str(text), str(mmproj), n_ctx=512, n_threads=1)) as eng:
        assert eng.info["n_embd"] == TINY["n_embd"]
        # the judge prompt the engine builds (from its template's turn pieces) is the one training uses,
        # and each piece has the same token ids in both tokenizers
        assert tuple(stage_texts(eng.template.turn_pieces())[0]) == engine_texts()[0]
        assert stage_texts(eng.template.turn_pieces())[1] == engine_texts()[1]
        _, item = random_example(random.Random(5))
        for stage in range(4):
            encoded = encode_judge(tok, item, stage, "(2,3) small red circle.", "4", True)
            ids, answer_flags, judge_flags = encoded.ids, encoded.answer_flags, encoded.judge_flags
            for piece in judge_pieces(stage, "(2,3) small red circle.", "4"):
                assert eng.tokenize(piece) == tok.encode(piece), piece
            choice_a, choice_b = judge_choices()
            assert ids[-1] == eng.tokenize(choice_a)[0] != eng.tokenize(choice_b)[0]
            assert judge_flags == [0] * (len(ids) - 1) + [1]
            suffix = tok.encode(prompt_suffix(item.question))
            assert ids[: len(suffix)] == suffix
            assert (sum(answer_flags) > 0) == (stage > 0)  # the stages before the judged one are trained too
            # verdicts: the right candidate (the first) is right all along, the wrong one from its first token
            verdicts = [v for v in encoded.verdicts if v != -1]
            n_first = len(tok.encode("(2,3) small red circle."))
            assert verdicts == [1] * n_first + [0] * len(tok.encode("4"))
