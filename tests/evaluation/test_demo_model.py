"""The shipped demo model and its held-out set: size, format, and a regression floor on accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stagelens.engine import Engine, LoadSettings, SearchSettings, UserTurn
from stagelens.evaluation.dataset import load_dataset
from stagelens.evaluation.evaluate import follows_format
from stagelens.evaluation.matching import is_correct

DEMO_DIR = Path(__file__).resolve().parents[2] / "models" / "demo"
HELDOUT = DEMO_DIR / "heldout.jsonl"
TEXT, MMPROJ = DEMO_DIR / "demo-text.gguf", DEMO_DIR / "demo-mmproj.gguf"
N_KINDS = 12

# Regression floor: greedy accuracy with stage forcing off on the first N_GUARD_ITEMS held-out items
# (N_GUARD_ITEMS / 12 of each kind). Measured on the shipped model: see GUARD_MEASURED; the previous
# model (issue 15's starting point) gets GUARD_OLD_MODEL on the same items. The floor sits between.
N_GUARD_ITEMS = 60
GUARD_MEASURED = 33 / 60  # the shipped model (p3, 1,800 steps), 1 thread
GUARD_OLD_MODEL = 21 / 60  # the model shipped before issue 15, same items and settings
GREEDY_ACCURACY_FLOOR = 0.45
# Four stages with the model's own tags: 60/60 on these items before the engine's stage machine, 59/60 with
# it (item 22 repeats itself in REASONING; the engine drops the repeats and closes the stage itself).
FORMAT_FLOOR = 0.95


@pytest.fixture(scope="module")
def demo_engine():
    assert TEXT.is_file() and MMPROJ.is_file(), "the demo model is not shipped in models/demo"
    # one thread: llama.cpp's thread barriers crawl when other jobs share the cores
    eng = Engine(LoadSettings(str(TEXT), str(MMPROJ), n_ctx=2048, max_beam=4, n_threads=1))
    yield eng
    eng.close()


def test_shipped_model_fits_the_size_budget() -> None:
    assert TEXT.stat().st_size + MMPROJ.stat().st_size <= 20 * 1024 * 1024


def test_shipped_model_answers_held_out_items_in_its_own_format(demo_engine) -> None:
    items = load_dataset(HELDOUT, limit=N_GUARD_ITEMS)
    settings = SearchSettings(beam=1, temperature=0.0, force_stages=False, seed=0)
    correct = formatted = 0
    for item in items:
        turn = UserTurn(item.question, tuple(demo_engine.prepare_images([item.image])))
        trace = demo_engine.answer(turn, settings=settings)
        correct += is_correct(trace.conclusion, item.answer, list(item.choices) or None)
        formatted += follows_format(trace)
    assert formatted / len(items) >= FORMAT_FLOOR
    assert correct / len(items) >= GREEDY_ACCURACY_FLOOR


def test_held_out_set_is_well_formed() -> None:
    lines = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()]
    assert len(lines) >= 1000
    per_kind: dict[str, int] = {}
    for line in lines:
        per_kind[line["kind"]] = per_kind.get(line["kind"], 0) + 1
        assert set(line["stages"]) == {"summary", "caption", "reasoning"}
    assert len(per_kind) == N_KINDS and min(per_kind.values()) == max(per_kind.values())
    assert [line["kind"] for line in lines[:N_GUARD_ITEMS]].count(lines[0]["kind"]) == N_GUARD_ITEMS // N_KINDS
    items = load_dataset(HELDOUT)
    assert len(items) == len(lines) and all(item.kind for item in items)
