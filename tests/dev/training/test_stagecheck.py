"""The per-stage check of eval records: caption against the truth, reasoning against the model's own caption."""

from __future__ import annotations

import random

from stagelens_dev.training.judge import misread_scene
from stagelens_dev.training.questions import build_item, random_example
from stagelens_dev.training.stagecheck import check, derived


def _record(index: int, stages: dict[str, str], candidates: list[str] | None = None) -> dict:
    trace = {
        "stages": [
            {"name": name, "text": text, "candidates": [{"text": c} for c in (candidates or [text])]}
            if name == "caption"
            else {"name": name, "text": text, "candidates": [{"text": text}]}
            for name, text in stages.items()
        ]
    }
    return {"method": "m", "index": index, "chosen": 0, "traces": [trace]}


def test_a_wrong_caption_with_reasoning_that_follows_it_is_told_apart_from_a_right_one() -> None:
    rng = random.Random(11)
    scene, item = random_example(rng, "count_all")
    while (misread := misread_scene(scene, rng)) is None or len(misread.shapes) == len(scene.shapes):
        pass  # a misreading that changes the count: drop or add
    wrong = build_item(misread, item.spec)
    truth = {"kind": item.kind, "spec": item.spec, "stages": {"caption": item.stages[1]}}
    names = ("summary", "caption", "reasoning", "conclusion")
    right_rec = _record(0, dict(zip(names, item.stages, strict=True)))
    follows_wrong = _record(1, dict(zip(names, wrong.stages, strict=True)), [wrong.stages[1], item.stages[1]])
    ignores_caption = _record(2, dict(zip(names, (*wrong.stages[:2], *item.stages[2:]), strict=True)))
    counts = check([truth, truth, truth], [right_rec, follows_wrong, ignores_caption])["m"]
    assert counts.items == 3
    assert counts.caption_right == 1  # only the first
    assert counts.reasoning_follows == 2 and counts.conclusion_follows == 2  # the first two follow their captions
    assert (counts.oracle_items, counts.picked_right) == (1, 0)  # the right caption was a candidate, not kept
    rates = counts.rates()
    assert rates["caption_right_by_kind"] == {"count_all": 1 / 3}


def test_derived_answers_need_a_well_formed_caption() -> None:
    scene, item = random_example(random.Random(2), "color")
    assert derived(item.stages[1], item.spec) == (item.stages[2], item.answer)
    assert derived("a red circle somewhere", item.spec) is None
