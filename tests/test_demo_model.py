"""The demo model: training lowers the loss, the export is exact, the shipped model works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stagelens.engine import Engine, LoadSettings, SearchSettings, UserTurn  # noqa: E402
from stagelens.evaluation.evaluate import follows_format, load_dataset  # noqa: E402
from stagelens.evaluation.export import MMPROJ_FILE, TEXT_FILE, export_model, load_gguf  # noqa: E402
from stagelens.evaluation.matching import is_correct  # noqa: E402
from stagelens.evaluation.scenes import random_example  # noqa: E402
from stagelens.evaluation.train import USER_PREFIX, prompt_suffix, target_pieces, train  # noqa: E402
from stagelens.images import load_image  # noqa: E402

DEMO_DIR = Path(__file__).resolve().parents[1] / "models" / "demo"
HELDOUT = DEMO_DIR / "heldout.jsonl"
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

# Parity: |llama.cpp logit - PyTorch logit| over the whole vocabulary, F32 weights on both sides.
# Measured on the shipped model: max 0.0013 at the 9 positions checked below, max 0.013 over the same
# 3 positions of the first 20 held-out items (logits span about -6 .. 15; ggml's GELU uses an F16 table).
PARITY_TOLERANCE = 0.05

# Regression guard: greedy accuracy on the first 40 held-out items with stage forcing off.
# Measured 0.425 (17/40; 0.395 on all 200, see models/demo/README.md); the floor sits below it.
GREEDY_ACCURACY_FLOOR = 0.35
N_GUARD_ITEMS = 40


@pytest.fixture(scope="module")
def demo_files() -> tuple[Path, Path]:
    text, mmproj = DEMO_DIR / TEXT_FILE, DEMO_DIR / MMPROJ_FILE
    assert text.is_file() and mmproj.is_file(), "the demo model is not shipped in models/demo"
    return text, mmproj


@pytest.fixture(scope="module")
def demo_engine(demo_files):
    # one thread: llama.cpp's thread barriers crawl when other jobs share the cores
    eng = Engine(LoadSettings(str(demo_files[0]), str(demo_files[1]), n_ctx=2048, max_beam=4, n_threads=1))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def demo_torch(demo_files):
    return load_gguf(*demo_files)


# ------------------------------------------------------------------------------------ training


def test_short_training_run_lowers_the_loss(tmp_path: Path) -> None:
    _, _, history = train(
        tmp_path, TINY, steps=30, batch_size=8, lr=3e-3, warmup=5, threads=1, save_every=0, log=lambda _: None
    )
    first = history[0]["loss"]
    last = np.mean([h["loss"] for h in history[-5:]])
    assert last < first - 1.0, (first, last)
    assert (tmp_path / "checkpoint.pt").is_file()


def test_training_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    runs = [
        train(tmp_path / str(i), TINY, steps=3, batch_size=4, threads=1, save_every=0, log=lambda _: None)[2]
        for i in range(2)
    ]
    assert [h["loss"] for h in runs[0]] == [h["loss"] for h in runs[1]]


def test_export_round_trips_and_loads_in_the_engine(tmp_path: Path) -> None:
    model, tok, _ = train(tmp_path, TINY, steps=1, batch_size=2, threads=1, save_every=0, log=lambda _: None)
    text, mmproj = export_model(model, tok, tmp_path)
    loaded, loaded_tok = load_gguf(text, mmproj)
    assert loaded_tok.tokens == tok.tokens and loaded_tok.merges == tok.merges
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with Engine(LoadSettings(str(text), str(mmproj), n_ctx=512, n_threads=1)) as eng:
        assert eng.info["n_embd"] == TINY["n_embd"]


# ------------------------------------------------------------------------------- shipped model


def test_shipped_model_fits_the_size_budget(demo_files) -> None:
    assert sum(p.stat().st_size for p in demo_files) <= 20 * 1024 * 1024


def test_tokenizer_matches_llama_cpp(demo_engine, demo_torch) -> None:
    _, tok = demo_torch
    rng = __import__("random").Random(99)
    for _ in range(20):
        _, item = random_example(rng)
        for text in [prompt_suffix(item.question), USER_PREFIX, *target_pieces(item), item.target]:
            assert tok.encode(text) == demo_engine.tokenize(text), text


def _units_and_pixels(engine: Engine, image_path: Path, question: str):
    img = load_image(image_path)
    units = engine.prompt_units(question, [img])
    (at,) = [i for i, u in enumerate(units) if not isinstance(u, int)]
    pixels = np.frombuffer(img.rgb, dtype=np.uint8).reshape(img.sent_size[1], img.sent_size[0], 3)
    tensor = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return units, units[:at], units[at + 1 :], tensor


def test_parity_of_logits_with_pytorch(demo_engine, demo_torch) -> None:
    """Same image, same prompt, same answer prefix: llama.cpp and PyTorch give the same logits."""
    model, tok = demo_torch
    items = load_dataset(HELDOUT, limit=3)
    worst = 0.0
    for item in items:
        units, prefix, rest, pixels = _units_and_pixels(demo_engine, item.image, item.question)
        assert prefix == tok.encode(USER_PREFIX)
        assert rest == tok.encode(prompt_suffix(item.question))
        answer = tok.encode("<SUMMARY>I need to count the red shapes.</SUMMARY>\n\n<CAPTION>3 shapes: a small")
        branches = [[], answer[:7], answer]
        got = [np.frombuffer(b, dtype=np.float32) for b in demo_engine.fork_logits(units, branches)]
        with torch.no_grad():
            logits = model(torch.tensor([prefix]), pixels, torch.tensor([rest + answer]))[0].numpy()
        for branch, engine_logits in zip(branches, got, strict=True):
            expected = logits[len(prefix) + model.cfg.n_patches + len(rest) + len(branch) - 1]
            diff = float(np.abs(engine_logits - expected).max())
            worst = max(worst, diff)
            assert int(engine_logits.argmax()) == int(expected.argmax())
    assert worst <= PARITY_TOLERANCE, worst


def test_parity_test_would_notice_a_wrong_image(demo_engine, demo_torch) -> None:
    model, tok = demo_torch
    first, second = load_dataset(HELDOUT, limit=2)
    units, prefix, rest, _ = _units_and_pixels(demo_engine, first.image, first.question)
    *_, other_pixels = _units_and_pixels(demo_engine, second.image, second.question)
    answer = tok.encode("<SUMMARY>I need to count the red shapes.</SUMMARY>\n\n<CAPTION>3 shapes: a small")
    engine_logits = np.frombuffer(demo_engine.fork_logits(units, [answer])[0], dtype=np.float32)
    with torch.no_grad():
        wrong = model(torch.tensor([prefix]), other_pixels, torch.tensor([rest + answer]))[0, -1].numpy()
    assert float(np.abs(engine_logits - wrong).max()) > 4 * PARITY_TOLERANCE


def test_shipped_model_answers_held_out_items_in_its_own_format(demo_engine) -> None:
    items = load_dataset(HELDOUT, limit=N_GUARD_ITEMS)
    settings = SearchSettings(beam=1, temperature=0.0, force_stages=False, seed=0)
    correct = formatted = 0
    for item in items:
        turn = UserTurn(item.question, tuple(demo_engine.prepare_images([item.image])))
        trace = demo_engine.answer(turn, settings=settings)
        correct += is_correct(trace.conclusion, item.answer, list(item.choices) or None)
        formatted += follows_format(trace)
    assert formatted / len(items) >= 0.95
    assert correct / len(items) >= GREEDY_ACCURACY_FLOOR


def test_held_out_set_is_well_formed() -> None:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    assert 150 <= len(lines) <= 250
    kinds = {json.loads(line)["kind"] for line in lines}
    assert len(kinds) == 8
    assert len(load_dataset(HELDOUT)) == len(lines)
