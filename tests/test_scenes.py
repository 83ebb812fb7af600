"""The scene generator: its scenes are valid, its images show them, and its answers are right."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagelens.evaluation.matching import is_correct
from stagelens.evaluation.scenes import (
    COLORS,
    IMAGE_SIZE,
    KINDS,
    MIN_GAP,
    QUESTION_KINDS,
    STAGES,
    make_item,
    possible_kinds,
    random_example,
    random_scene,
    render,
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _nearest_color(pixel: np.ndarray) -> str:
    return min(COLORS, key=lambda c: float(np.sum((np.array(COLORS[c]) - pixel) ** 2)))


@given(seeds)
@settings(max_examples=60, deadline=None)
def test_scenes_are_valid_and_drawn_where_they_say(seed: int) -> None:
    scene = random_scene(random.Random(seed))
    assert 1 <= len(scene.shapes) <= 5
    names = [(s.color, s.kind) for s in scene.shapes]
    assert len(set(names)) == len(names)  # every colour+kind at most once
    pixels = np.asarray(render(scene), dtype=np.int32)
    assert pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    for s in scene.shapes:
        assert s.cx - s.radius >= 0 and s.cx + s.radius < IMAGE_SIZE
        assert 1 <= s.column <= 8 and 1 <= s.row <= 8
        # the centre pixel (inside every kind of shape, never covered: no overlaps) has the shape's colour
        assert _nearest_color(pixels[s.cy, s.cx]) == s.color
    for a in scene.shapes:
        for b in scene.shapes:
            if a is not b:
                assert max(abs(a.cx - b.cx), abs(a.cy - b.cy)) >= a.radius + b.radius + 3


@given(seeds, st.sampled_from(QUESTION_KINDS))
@settings(max_examples=200, deadline=None)
def test_answers_are_right(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    scene, item = random_example(rng, kind)
    shapes = scene.shapes
    q = item.question
    if kind == "color":
        shape_kind = re.fullmatch(r"What color is the (\w+)\?", q).group(1)
        matching = [s for s in shapes if s.kind == shape_kind]
        assert len(matching) == 1 and item.answer == matching[0].color
    elif kind == "count_all":
        assert item.answer == str(len(shapes))
    elif kind == "count_color":
        color = re.fullmatch(r"How many (\w+) shapes are there\?", q).group(1)
        assert item.answer == str(sum(s.color == color for s in shapes))
    elif kind == "count_kind":
        plural = re.fullmatch(r"How many (\w+) are there\?", q).group(1)
        assert item.answer == str(sum(s.kind + "s" == plural for s in shapes))
    elif kind == "exists":
        color, shape_kind = re.fullmatch(r"Is there a (\w+) (\w+) in the image\?", q).groups()
        present = any(s.color == color and s.kind == shape_kind for s in shapes)
        assert item.answer == ("yes" if present else "no")
    else:
        a_name, b_name = re.fullmatch(r"Which is [\w ]+, the (\w+ \w+) or the (\w+ \w+)\?", q).groups()
        a = next(s for s in shapes if s.name == a_name)
        b = next(s for s in shapes if s.name == b_name)
        if kind == "left":
            assert abs(a.cx - b.cx) >= MIN_GAP
            assert item.answer == (a if a.cx < b.cx else b).name
        elif kind == "above":
            assert abs(a.cy - b.cy) >= MIN_GAP
            assert item.answer == (a if a.cy < b.cy else b).name
        else:
            assert a.size != b.size
            assert item.answer == (a if a.radius > b.radius else b).name
        assert set(item.choices) == {a_name, b_name}
    # the target is four tagged stages whose conclusion is exactly the answer
    tags = re.findall(r"<(/?[A-Z]+)>", item.target)
    assert tags == [t for tag in STAGES for t in (tag, "/" + tag)]
    assert item.stages[3] == item.answer
    assert is_correct(item.stages[3], item.answer, list(item.choices) or None)


@given(seeds)
@settings(max_examples=40, deadline=None)
def test_caption_lists_every_shape_with_its_grid_cell(seed: int) -> None:
    scene, item = random_example(random.Random(seed))
    caption = item.stages[1]
    assert caption.startswith(f"{len(scene.shapes)} shapes: ")
    for s in scene.shapes:
        assert f"a {s.size} {s.color} {s.kind} at ({s.column},{s.row})" in caption


def test_reasoning_of_relations_uses_the_caption_cells() -> None:
    rng = random.Random(3)
    for _ in range(50):
        scene, item = random_example(rng, "left")
        winner = next(s for s in scene.shapes if s.name == item.answer)
        assert f"The {winner.name} is in column {winner.column}" in item.stages[2]


def test_scenes_cover_every_kind_and_color() -> None:
    rng = random.Random(0)
    seen_kinds, seen_colors, seen_questions = set(), set(), set()
    for _ in range(300):
        scene, item = random_example(rng)
        seen_kinds.update(s.kind for s in scene.shapes)
        seen_colors.update(s.color for s in scene.shapes)
        seen_questions.add(item.kind)
    assert seen_kinds == set(KINDS) and seen_colors == set(COLORS) and seen_questions == set(QUESTION_KINDS)


def test_generation_is_deterministic() -> None:
    a = random_example(random.Random(42))
    b = random_example(random.Random(42))
    assert a == b
    assert np.array_equal(np.asarray(render(a[0])), np.asarray(render(b[0])))


def test_unsupported_question_kind_is_refused() -> None:
    rng = random.Random(1)
    while True:
        scene = random_scene(rng)
        if "bigger" not in possible_kinds(scene):
            break
    with pytest.raises(ValueError, match="no unambiguous answer"):
        make_item(scene, rng, "bigger")
