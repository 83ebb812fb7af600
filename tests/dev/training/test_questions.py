"""Questions: every kind's answer checked against the scene by independent code, and every target's
reasoning derivable from its caption alone (as the per-stage check assumes)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagelens.evaluation.matching import is_correct
from stagelens_dev.training.judge import judge_example, misread_scene
from stagelens_dev.training.questions import (
    HARDER_KINDS,
    MIN_GAP,
    QUESTION_KINDS,
    STAGES,
    Underivable,
    build_item,
    make_item,
    possible_kinds,
    random_example,
)
from stagelens_dev.training.scenes import COLORS, KINDS, Scene, Shape, caption, parse_caption, random_scene

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _shape(scene: Scene, words: str) -> Shape:
    """The one shape a question's phrase ('red circle' or 'large square') names."""
    first, kind = words.split()
    matching = [s for s in scene.shapes if s.kind == kind and first in (s.color, s.size)]
    assert len(matching) == 1, words
    return matching[0]


def _expected(scene: Scene, kind: str, q: str) -> str:
    shapes = scene.shapes
    if kind == "color":
        shape_kind = re.fullmatch(r"What color is the (\w+)\?", q).group(1)
        (only,) = [s for s in shapes if s.kind == shape_kind]
        return only.color
    if kind == "count_all":
        return str(len(shapes))
    if kind == "count_color":
        color = re.fullmatch(r"How many (\w+) shapes are there\?", q).group(1)
        return str(sum(s.color == color for s in shapes))
    if kind == "count_kind":
        plural = re.fullmatch(r"How many (\w+) are there\?", q).group(1)
        return str(sum(s.kind + "s" == plural for s in shapes))
    if kind == "exists":
        color, shape_kind = re.fullmatch(r"Is there a (\w+) (\w+) in the image\?", q).groups()
        return "yes" if any(s.color == color and s.kind == shape_kind for s in shapes) else "no"
    if kind in ("left", "above", "bigger"):
        a_name, b_name = re.fullmatch(r"Which is [\w ]+, the (\w+ \w+) or the (\w+ \w+)\?", q).groups()
        a, b = _shape(scene, a_name), _shape(scene, b_name)
        if kind == "bigger":
            assert a.size != b.size
            return (a if a.radius > b.radius else b).name
        axis = "cx" if kind == "left" else "cy"
        assert abs(getattr(a, axis) - getattr(b, axis)) >= MIN_GAP
        return (a if getattr(a, axis) < getattr(b, axis) else b).name
    if kind == "count_diff":
        found = re.fullmatch(r"How many more (\w+) shapes than (\w+) shapes are there\?", q)
        if found:
            n1, n2 = (sum(s.color == c for s in shapes) for c in found.groups())
        else:
            p1, p2 = re.fullmatch(r"How many more (\w+)s than (\w+)s are there\?", q).groups()
            n1, n2 = (sum(s.kind == k for s in shapes) for k in (p1, p2))
        assert n1 >= n2 and n1 > 0
        return str(n1 - n2)
    if kind == "ref_color":
        pattern = r"What color is the nearest shape (left of|right of|above|below) the (\w+ \w+)\?"
        where, phrase = re.fullmatch(pattern, q).groups()
        ref = _shape(scene, phrase)
        # by pixel centres: left of = smaller x, and the nearest is the one with the closest cell
        key = {"left of": ("cx", -1), "right of": ("cx", 1), "above": ("cy", -1), "below": ("cy", 1)}[where]
        others = [s for s in shapes if s is not ref]
        cell = {"cx": "column", "cy": "row"}[key[0]]
        assert all(getattr(s, cell) != getattr(ref, cell) for s in others)  # none level with the reference
        side = [s for s in others if (getattr(s, key[0]) - getattr(ref, key[0])) * key[1] > 0]
        distances = sorted(abs(getattr(s, cell) - getattr(ref, cell)) for s in side)
        assert len(distances) == 1 or distances[0] < distances[1]
        nearest = min(side, key=lambda s: abs(getattr(s, cell) - getattr(ref, cell)))
        return nearest.color
    if kind == "count_bigger":
        ref = _shape(scene, re.fullmatch(r"How many shapes are bigger than the (\w+ \w+)\?", q).group(1))
        return str(sum(s.size == "large" for s in shapes) if ref.size == "small" else 0)
    if kind == "count_rel":
        where, name = re.fullmatch(r"How many shapes are (left of|above) the (\w+ \w+)\?", q).groups()
        ref = _shape(scene, name)
        cell = "column" if where == "left of" else "row"
        assert all(getattr(s, cell) != getattr(ref, cell) for s in shapes if s is not ref)
        return str(sum(getattr(s, cell) < getattr(ref, cell) for s in shapes))
    raise AssertionError(kind)


@given(seeds, st.sampled_from(QUESTION_KINDS))
@settings(max_examples=300, deadline=None)
def test_answers_are_right(seed: int, kind: str) -> None:
    scene, item = random_example(random.Random(seed), kind)
    assert item.kind == kind
    assert item.answer == _expected(scene, kind, item.question)
    if item.choices:
        assert item.answer in item.choices and len(set(item.choices)) == 2
    tags = re.findall(r"<(/?[A-Z]+)>", item.target)
    assert tags == [t for tag in STAGES for t in (tag, "/" + tag)]
    assert item.stages[1] == caption(scene) and item.stages[3] == item.answer
    assert is_correct(item.stages[3], item.answer, list(item.choices) or None)
    # the reasoning uses only what the caption says
    assert build_item(parse_caption(item.stages[1]), item.spec) == item


def test_harder_kinds_have_varied_answers() -> None:
    rng = random.Random(7)
    for kind in HARDER_KINDS:
        answers = {random_example(rng, kind)[1].answer for _ in range(150)}
        assert len(answers) >= 3, (kind, answers)


def test_reasoning_of_the_harder_kinds_states_each_step() -> None:
    scene = Scene(
        (
            Shape("square", "red", "large", 9, 44, 20),  # (6,3)
            Shape("circle", "blue", "small", 4, 12, 36),  # (2,5)
            Shape("triangle", "blue", "small", 5, 28, 52),  # (4,7)
        )
    )
    diff = build_item(scene, {"kind": "count_diff", "by": "color", "a": "blue", "b": "red"})
    assert diff.answer == "1"
    assert diff.stages[2] == (
        "Counting the blue shapes: 1 blue circle, 2 blue triangle. That makes 2. "
        "Counting the red shapes: 1 red square. That makes 1. 2 minus 1 is 1."
    )
    ref = build_item(scene, {"kind": "ref_color", "ref": "red square", "phrase": "large square", "dir": "left"})
    assert ref.question == "What color is the nearest shape left of the large square?" and ref.answer == "blue"
    assert "The nearest is the blue triangle." in ref.stages[2]
    bigger = build_item(scene, {"kind": "count_bigger", "ref": "blue circle"})
    assert bigger.answer == "1"
    rel = build_item(scene, {"kind": "count_rel", "ref": "blue circle", "dir": "above"})
    assert rel.answer == "1" and "1 red square in row 3" in rel.stages[2]
    with pytest.raises(Underivable):
        build_item(scene, {"kind": "bigger", "a": "blue circle", "b": "blue triangle"})
    with pytest.raises(Underivable):
        build_item(scene, {"kind": "count_bigger", "ref": "green circle"})


def test_unsupported_question_kind_is_refused() -> None:
    rng = random.Random(1)
    while True:
        scene = random_scene(rng)
        if "bigger" not in possible_kinds(scene):
            break
    with pytest.raises(ValueError, match="no unambiguous answer"):
        make_item(scene, rng, "bigger")


@given(seeds)
@settings(max_examples=100, deadline=None)
def test_judge_examples_pair_the_target_with_a_wrong_candidate(seed: int) -> None:
    rng = random.Random(seed)
    scene, item = random_example(rng)
    example = judge_example(scene, item, rng)
    if example is None:
        return
    right, wrong = (example.first, example.second) if example.first_is_right else (example.second, example.first)
    assert right == item.stages[example.stage] and wrong != right
    if example.stage == 1:  # a misread caption is still a well-formed caption, or a miscount of one
        try:
            parse_caption(wrong)
        except ValueError:
            assert re.sub(r"\d+ shapes?\.$", "", wrong) == re.sub(r"\d+ shapes?\.$", "", right)


def test_misreadings_keep_shapes_distinct() -> None:
    rng = random.Random(3)
    for _ in range(300):
        scene = random_scene(rng)
        misread = misread_scene(scene, rng)
        if misread is None:
            continue
        names = [s.name for s in misread.shapes]
        cells = [(s.column, s.row) for s in misread.shapes]
        assert len(set(names)) == len(names) and len(set(cells)) == len(cells)
        assert all(s.color in COLORS and s.kind in KINDS for s in misread.shapes)


def test_easy_judge_examples_exist_for_every_kind_and_stage() -> None:
    # count_all's summary is the same for every scene: the easy wrong one must come from another kind
    rng = random.Random(9)
    seen = set()
    for _ in range(200):
        scene, item = random_example(rng, rng.choice(QUESTION_KINDS))
        example = judge_example(scene, item, rng, easy_fraction=1.0)
        assert example is not None
        right = example.first if example.first_is_right else example.second
        wrong = example.second if example.first_is_right else example.first
        assert right == item.stages[example.stage] != wrong
        seen.add(example.stage)
    assert seen == {0, 1, 2, 3}
