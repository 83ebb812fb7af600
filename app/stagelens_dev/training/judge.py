"""Training examples for the judge prompt: one right and one wrong candidate for a stage.

The engine's judge scorer asks the model itself which of two candidates for a stage is better,
with the image, the question and the stages chosen so far in context (``stagelens.engine.prompt``
``stage_texts``), and reads log p(" A") - log p(" B"). Training the model on that prompt, with a
right candidate (the target) against a wrong one, makes the judge a verifier that checks a stage
against the image, instead of a coin toss.

Wrong candidates are mostly near misses that look like the model's own mistakes: a caption with one
shape misread (colour, kind, size, cell one off), missing or made up, or a miscounted total; a
reasoning that follows such a misread caption or slips on the last number; a wrong conclusion; a
summary of another question. A share of them are easy (the same stage for another scene), so the
comparison itself is learned before the fine differences.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from stagelens_dev.training.questions import (
    QUESTION_KINDS,
    Item,
    Underivable,
    build_item,
    candidate_specs,
    random_example,
)
from stagelens_dev.training.scenes import COLORS, GRID, KINDS, SIZES, Scene, Shape, caption, count_phrase

JUDGED_STAGES = (0, 1, 2, 3)  # SUMMARY, CAPTION, REASONING, CONCLUSION
STAGE_WEIGHTS = (1, 5, 3, 1)  # how often each stage is the one judged


@dataclass(frozen=True)
class JudgeExample:
    stage: int  # which stage the two candidates are for
    first: str  # candidate A's stage content
    second: str  # candidate B's stage content
    first_is_right: bool


def _occupied(scene: Scene, skip: Shape | None = None) -> tuple[set[tuple[int, int]], set[str]]:
    others = [s for s in scene.shapes if s is not skip]
    return {(s.column, s.row) for s in others}, {s.name for s in others}


def _cell_centre(column: int, row: int) -> tuple[int, int]:
    return (column - 1) * 8 + 4, (row - 1) * 8 + 4


def misread_scene(scene: Scene, rng: random.Random) -> Scene | None:
    """The scene with one plausible misreading, or None when the one drawn does not apply."""
    shapes = list(scene.shapes)
    target = rng.choice(shapes)
    cells, names = _occupied(scene, target)
    how = rng.choice(("color", "kind", "size", "cell", "drop", "add", "swap"))
    changed: Shape | None = None
    if how == "color":
        options = [c for c in COLORS if c != target.color and f"{c} {target.kind}" not in names]
        changed = replace(target, color=rng.choice(options)) if options else None
    elif how == "kind":
        options = [k for k in KINDS if k != target.kind and f"{target.color} {k}" not in names]
        changed = replace(target, kind=rng.choice(options)) if options else None
    elif how == "size":
        size = "large" if target.size == "small" else "small"
        changed = replace(target, size=size, radius=SIZES[size][0])
    elif how == "cell":
        dc, dr = rng.choice(((-1, 0), (1, 0), (0, -1), (0, 1)))
        column, row = target.column + dc, target.row + dr
        if 1 <= column <= GRID and 1 <= row <= GRID and (column, row) not in cells:
            cx, cy = _cell_centre(column, row)
            changed = replace(target, cx=cx, cy=cy)
    elif how == "drop":
        if len(shapes) > 1:
            return Scene(tuple(s for s in shapes if s is not target), scene.background, scene.noise_seed)
        return None
    elif how == "add":
        taken = {(s.column, s.row) for s in shapes}
        free = [(c, r) for c in range(1, GRID + 1) for r in range(1, GRID + 1) if (c, r) not in taken]
        new_names = [(c, k) for c in COLORS for k in KINDS if f"{c} {k}" not in {s.name for s in shapes}]
        if free and new_names:
            (column, row), (color, kind) = rng.choice(free), rng.choice(new_names)
            size = rng.choice(tuple(SIZES))
            cx, cy = _cell_centre(column, row)
            extra = Shape(kind, color, size, SIZES[size][0], cx, cy)
            return Scene((*shapes, extra), scene.background, scene.noise_seed)
        return None
    else:  # swap the colours of two shapes
        others = [s for s in shapes if s is not target and s.color != target.color]
        if others:
            other = rng.choice(others)
            a, b = replace(target, color=other.color), replace(other, color=target.color)
            if len({a.name, b.name, *(s.name for s in shapes if s not in (target, other))}) == len(shapes):
                return Scene(
                    tuple(a if s is target else b if s is other else s for s in shapes),
                    scene.background,
                    scene.noise_seed,
                )
        return None
    if changed is None:
        return None
    return Scene(tuple(changed if s is target else s for s in shapes), scene.background, scene.noise_seed)


def wrong_caption(scene: Scene, rng: random.Random) -> str:
    for _ in range(20):
        if rng.random() < 0.1:  # the entries right, the total miscounted
            n = len(scene.shapes)
            wrong = max(1, n + rng.choice((-1, 1)))
            if wrong != n:
                text = caption(scene)
                return text[: text.rindex(count_phrase(n))] + count_phrase(wrong) + "."
        misread = misread_scene(scene, rng)
        if misread is not None and caption(misread) != caption(scene):
            return caption(misread)
    raise RuntimeError("no misreading found")  # practically unreachable: "size" always applies


_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def wrong_reasoning(scene: Scene, item: Item, rng: random.Random) -> str | None:
    right = item.stages[2]
    assert item.spec is not None
    for _ in range(10):
        if rng.random() < 0.3:
            found = _LAST_NUMBER.search(right)
            if found:
                n = int(found.group(1))
                slip = str(max(0, n + rng.choice((-1, 1))))
                if slip != found.group(1):
                    return right[: found.start(1)] + slip + found.group(2)
        misread = misread_scene(scene, rng)
        if misread is None:
            continue
        try:
            other = build_item(misread, item.spec).stages[2]
        except Underivable:
            continue
        if other != right:
            return other
    return None


def wrong_conclusion(item: Item, rng: random.Random) -> str:
    if item.choices:
        return next(c for c in item.choices if c != item.answer)
    if item.answer.isdigit():
        n = int(item.answer)
        return str(n + 1 if n == 0 or rng.random() < 0.5 else n - 1)
    return rng.choice([c for c in COLORS if c != item.answer])


def wrong_summary(scene: Scene, item: Item, rng: random.Random) -> str | None:
    assert item.spec is not None
    others = [s for s in candidate_specs(scene, item.kind) if s != item.spec]
    for spec in rng.sample(others, min(4, len(others))):
        summary = build_item(scene, spec).stages[0]
        if summary != item.stages[0]:
            return summary
    return None


def unrelated(item: Item, stage: int, rng: random.Random) -> str | None:
    """The same stage of another question (any kind) about another scene: an easy wrong candidate."""
    for _ in range(20):
        _, other = random_example(rng, rng.choice(QUESTION_KINDS))
        if other.stages[stage] != item.stages[stage]:
            return other.stages[stage]
    return None


def judge_example(scene: Scene, item: Item, rng: random.Random, easy_fraction: float = 0.0) -> JudgeExample | None:
    """A right and a wrong candidate for one stage (drawn by ``STAGE_WEIGHTS``), in random order;
    None when no wrong candidate of that stage exists for this item. With probability
    ``easy_fraction`` the wrong one is unrelated (another scene's), else a near miss."""
    stage = rng.choices(JUDGED_STAGES, weights=STAGE_WEIGHTS)[0]
    wrong: str | None
    if easy_fraction > 0 and rng.random() < easy_fraction:  # no draw when off: the stream stays as before
        wrong = unrelated(item, stage, rng)
    elif stage == 0:
        wrong = wrong_summary(scene, item, rng)
    elif stage == 1:
        wrong = wrong_caption(scene, rng)
    elif stage == 2:
        wrong = wrong_reasoning(scene, item, rng)
    else:
        wrong = wrong_conclusion(item, rng)
    if wrong is None or wrong == item.stages[stage]:
        return None
    right_first = rng.random() < 0.5
    pair = (item.stages[stage], wrong) if right_first else (wrong, item.stages[stage])
    return JudgeExample(stage, pair[0], pair[1], right_first)
