"""The shipped demo model: llama.cpp computes what PyTorch computes, token for token and logit for logit."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stagelens.engine import Engine, LoadSettings  # noqa: E402
from stagelens.evaluation.dataset import load_dataset  # noqa: E402
from stagelens.images import load_image  # noqa: E402
from stagelens_dev.training.export import MMPROJ_FILE, TEXT_FILE, load_gguf  # noqa: E402
from stagelens_dev.training.prompts import USER_PREFIX, judge_pieces, prompt_suffix, target_pieces  # noqa: E402
from stagelens_dev.training.questions import random_example  # noqa: E402
from stagelens_dev.training.tokenizer import demo_vocab  # noqa: E402

DEMO_DIR = Path(__file__).resolve().parents[3] / "models" / "demo"
HELDOUT = DEMO_DIR / "heldout.jsonl"

# Parity: |llama.cpp logit - PyTorch logit| over the whole vocabulary, F32 weights on both sides.
# Measured on the shipped model: see models/demo/README.md ("Export and parity").
PARITY_TOLERANCE = 0.05


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


def test_tokenizer_matches_llama_cpp(demo_engine, demo_torch) -> None:
    _, tok = demo_torch
    rng = random.Random(99)
    for _ in range(20):
        _, item = random_example(rng)
        texts = [prompt_suffix(item.question), USER_PREFIX, *target_pieces(item), item.target]
        texts += judge_pieces(1, item.stages[1], item.stages[1])
        for text in texts:
            assert tok.encode(text) == demo_engine.tokenize(text), text


def test_the_shipped_model_holds_the_vocabulary_the_recipe_learns(demo_torch) -> None:
    # stage 1 of the recipe learns demo_vocab() from generated texts: a change to what the generator
    # writes would change the tokens, and the recipe would no longer make the shipped model
    _, tok = demo_torch
    stored = demo_vocab()
    assert tok.tokens == stored.tokens and tok.merges == stored.merges and tok.types == stored.types


def _units_and_pixels(engine: Engine, image_path: Path, question: str):
    img = load_image(image_path)
    units = engine.prompt_units(question, [img])
    (at,) = [i for i, u in enumerate(units) if not isinstance(u, int)]
    pixels = np.frombuffer(img.rgb, dtype=np.uint8).reshape(img.sent_size[1], img.sent_size[0], 3)
    tensor = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return units, units[:at], units[at + 1 :], tensor


def _answer_prefix(tok, item) -> list[int]:
    return [i for piece in target_pieces(item)[:4] for i in tok.encode(piece)]


def test_parity_of_logits_with_pytorch(demo_engine, demo_torch) -> None:
    """Same image, same prompt, same answer prefix: llama.cpp and PyTorch give the same logits."""
    model, tok = demo_torch
    items = load_dataset(HELDOUT, limit=3)
    rng = random.Random(4)
    worst = 0.0
    for item in items:
        units, prefix, rest, pixels = _units_and_pixels(demo_engine, item.image, item.question)
        assert prefix == tok.encode(USER_PREFIX)
        assert rest == tok.encode(prompt_suffix(item.question))
        _, other = random_example(rng)
        answer = _answer_prefix(tok, other)  # summary and caption of some other scene: any text will do
        branches = [[], answer[:7], answer]
        got = [np.frombuffer(b, dtype=np.float32) for b in demo_engine.fork_logits(units, branches)]
        with torch.no_grad():
            logits = model(torch.tensor([prefix]), pixels, torch.tensor([rest + answer]))[0].numpy()
        for branch, engine_logits in zip(branches, got, strict=True):
            expected = logits[len(prefix) + model.cfg.n_patches + len(rest) + len(branch) - 1]
            worst = max(worst, float(np.abs(engine_logits - expected).max()))
            assert int(engine_logits.argmax()) == int(expected.argmax())
    assert worst <= PARITY_TOLERANCE, worst


def test_parity_test_would_notice_a_wrong_image_or_a_skipped_vision_block(demo_engine, demo_torch) -> None:
    model, tok = demo_torch
    first, second = load_dataset(HELDOUT, limit=2)
    units, prefix, rest, pixels = _units_and_pixels(demo_engine, first.image, first.question)
    *_, other_pixels = _units_and_pixels(demo_engine, second.image, second.question)
    _, other = random_example(random.Random(8))
    answer = _answer_prefix(tok, other)
    engine_logits = np.frombuffer(demo_engine.fork_logits(units, [answer])[0], dtype=np.float32)
    with torch.no_grad():
        wrong = model(torch.tensor([prefix]), other_pixels, torch.tensor([rest + answer]))[0, -1].numpy()
        blocks = model.vision.blocks
        model.vision.blocks = blocks[:-1]  # what clip.cpp would run without clip.vision.feature_layer
        try:
            short = model(torch.tensor([prefix]), pixels, torch.tensor([rest + answer]))[0, -1].numpy()
        finally:
            model.vision.blocks = blocks
    assert float(np.abs(engine_logits - wrong).max()) > 4 * PARITY_TOLERANCE
    assert float(np.abs(engine_logits - short).max()) > 4 * PARITY_TOLERANCE
