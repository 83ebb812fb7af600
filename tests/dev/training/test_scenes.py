"""The scene generator: its scenes are valid, its images show them, its captions read back."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagelens_dev.training.scenes import (
    COLORS,
    EDGE_MARGIN,
    IMAGE_SIZE,
    KINDS,
    CaptionError,
    caption,
    parse_caption,
    random_scene,
    render,
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _nearest_color(pixel: np.ndarray) -> str:
    return min(COLORS, key=lambda c: sum((int(p) - v) ** 2 for p, v in zip(pixel, COLORS[c], strict=True)))


@given(seeds)
@settings(max_examples=60, deadline=None)
def test_scenes_are_valid_and_drawn_where_they_say(seed: int) -> None:
    scene = random_scene(random.Random(seed))
    assert 1 <= len(scene.shapes) <= 5
    names = [(s.color, s.kind) for s in scene.shapes]
    assert len(set(names)) == len(names)  # every colour+kind at most once
    assert len({(s.column, s.row) for s in scene.shapes}) == len(scene.shapes)  # one centre per cell
    pixels = np.asarray(render(scene), dtype=np.int32)
    assert pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    for s in scene.shapes:
        assert s.cx - s.radius >= 0 and s.cx + s.radius < IMAGE_SIZE
        assert 1 <= s.column <= 8 and 1 <= s.row <= 8
        assert EDGE_MARGIN <= s.cx % 8 < 8 - EDGE_MARGIN and EDGE_MARGIN <= s.cy % 8 < 8 - EDGE_MARGIN
        # the centre pixel (inside every kind of shape, never covered: no overlaps) has the shape's colour
        assert _nearest_color(pixels[s.cy, s.cx]) == s.color
    for a in scene.shapes:
        for b in scene.shapes:
            if a is not b:
                assert max(abs(a.cx - b.cx), abs(a.cy - b.cy)) >= a.radius + b.radius + 3


@given(seeds)
@settings(max_examples=60, deadline=None)
def test_caption_lists_every_shape_in_reading_order_and_reads_back(seed: int) -> None:
    scene = random_scene(random.Random(seed))
    text = caption(scene)
    n = len(scene.shapes)
    assert text.endswith(f". {n} shape{'s' if n != 1 else ''}.")
    cells = [(s.row, s.column) for s in scene.shapes]
    positions = [text.index(f"({c},{r}) ") for r, c in sorted(cells)]
    assert positions == sorted(positions)
    for s in scene.shapes:
        assert f"({s.column},{s.row}) {s.size} {s.color} {s.kind}" in text
    back = parse_caption(text)
    assert {(s.name, s.size, s.column, s.row) for s in back.shapes} == {
        (s.name, s.size, s.column, s.row) for s in scene.shapes
    }
    assert caption(back) == text


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "(2,3) small red circle. 2 shapes.",  # the count does not match
        "(2,3) small red circle; (2,3) large blue square. 2 shapes.",  # one cell twice
        "(2,3) small red circle; (4,3) large red circle. 2 shapes.",  # one shape twice
        "(2,3) small pink circle. 1 shape.",  # no such colour
        "(9,3) small red circle. 1 shape.",  # off the grid
        "(2,3) small red circle 1 shape.",
        "two shapes: a red circle and a blue square.",
    ],
)
def test_malformed_captions_do_not_parse(bad: str) -> None:
    with pytest.raises(CaptionError):
        parse_caption(bad)


def test_generation_is_deterministic_and_covers_every_kind_and_color() -> None:
    a, b = random_scene(random.Random(42)), random_scene(random.Random(42))
    assert a == b and np.array_equal(np.asarray(render(a)), np.asarray(render(b)))
    rng = random.Random(0)
    scenes = [random_scene(rng) for _ in range(200)]
    assert {s.kind for sc in scenes for s in sc.shapes} == set(KINDS)
    assert {s.color for sc in scenes for s in sc.shapes} == set(COLORS)
