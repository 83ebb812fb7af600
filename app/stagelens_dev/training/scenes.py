"""Synthetic scenes of flat shapes: generation, rendering, and the caption that describes them.

A scene is 2-5 shapes (circle, square, triangle) in 5 colours and 2 sizes on a 64x64 canvas, no
two with the same colour and kind, none overlapping. Rendering adds jitter (background tint,
shape colour, pixel noise) so the images are not all alike.

Positions are named by the cell of an 8x8 grid (8 px cells, one per vision patch) that holds a
shape's centre: ``(column,row)``, both 1-8. A centre is never on the first or last pixel of its
cell (``EDGE_MARGIN``), so the cell is visible, and no two centres share a cell (shapes are at
least 11 px apart along some axis), so the cells order the shapes: the caption lists them in reading
order (row, then column), position first, and ends with the count::

    (2,3) small red circle; (5,6) large blue square. 2 shapes.

``parse_caption`` reads such a caption back into the shapes it claims (used to check whether a
model's reasoning follows its own caption).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64
GRID = 8  # cells per side
CELL = IMAGE_SIZE // GRID
COLORS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (225, 195, 30),
    "purple": (140, 55, 175),
}
KINDS = ("circle", "square", "triangle")
SIZES = {"small": (4, 5), "large": (8, 10)}  # half-extent range in pixels
MIN_SHAPES, MAX_SHAPES = 2, 5
# A centre pixel is never in the first or last EDGE_MARGIN columns/rows of its cell: the shape's
# middle is then at least 1.5 px from a cell border, so which cell holds it is visible.
EDGE_MARGIN = 1


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    size: str  # "small" | "large"
    radius: int  # half-extent in pixels
    cx: int
    cy: int

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"

    @property
    def column(self) -> int:
        return self.cx // CELL + 1

    @property
    def row(self) -> int:
        return self.cy // CELL + 1

    @property
    def cell(self) -> str:
        return f"({self.column},{self.row})"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: tuple[int, int, int] = (235, 235, 230)
    noise_seed: int = 0

    def by_name(self, name: str) -> Shape | None:
        return next((s for s in self.shapes if s.name == name), None)

    def in_reading_order(self) -> list[Shape]:
        return sorted(self.shapes, key=lambda s: (s.row, s.column))


def random_scene(rng: random.Random, n_min: int = MIN_SHAPES, n_max: int = MAX_SHAPES) -> Scene:
    n = rng.randint(n_min, n_max)
    combos = rng.sample([(c, k) for c in COLORS for k in KINDS], n)
    shapes: list[Shape] = []
    for color, kind in combos:
        for _ in range(200):
            size = rng.choice(tuple(SIZES))
            radius = rng.randint(*SIZES[size])
            cx = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
            cy = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
            if (
                min(cx % CELL, cy % CELL) >= EDGE_MARGIN
                and max(cx % CELL, cy % CELL) < CELL - EDGE_MARGIN
                and all(max(abs(cx - s.cx), abs(cy - s.cy)) >= radius + s.radius + 3 for s in shapes)
            ):
                shapes.append(Shape(kind, color, size, radius, cx, cy))
                break
    shade = rng.randint(215, 250)
    background = (shade + rng.randint(-5, 5), shade + rng.randint(-5, 5), shade - rng.randint(0, 15))
    r, g, b = (min(255, v) for v in background)
    return Scene(tuple(shapes), (r, g, b), rng.randrange(2**31))


def render(scene: Scene) -> Image.Image:
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), scene.background)
    draw = ImageDraw.Draw(img)
    jitter = random.Random(scene.noise_seed)
    for s in scene.shapes:
        r_, g_, b_ = (max(0, min(255, v + jitter.randint(-20, 20))) for v in COLORS[s.color])
        fill = (r_, g_, b_)
        r = s.radius
        if s.kind == "circle":
            draw.ellipse((s.cx - r, s.cy - r, s.cx + r, s.cy + r), fill=fill)
        elif s.kind == "square":
            q = round(r * 0.9)  # same apparent size as a circle of radius r
            draw.rectangle((s.cx - q, s.cy - q, s.cx + q, s.cy + q), fill=fill)
        else:
            draw.polygon([(s.cx, s.cy - r), (s.cx - r, s.cy + r), (s.cx + r, s.cy + r)], fill=fill)
    pixels = np.asarray(img, dtype=np.int16)
    noise = np.random.default_rng(scene.noise_seed).integers(-10, 11, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")


# ------------------------------------------------------------------------------------ caption


def describe(s: Shape) -> str:
    return f"{s.cell} {s.size} {s.color} {s.kind}"


def count_phrase(n: int) -> str:
    return f"{n} shape" if n == 1 else f"{n} shapes"


def caption(scene: Scene) -> str:
    return "; ".join(describe(s) for s in scene.in_reading_order()) + f". {count_phrase(len(scene.shapes))}."


_ENTRY = re.compile(r"\((\d),(\d)\) (small|large) (\w+) (\w+)")
_CAPTION = re.compile(
    r"(?P<entries>\(\d,\d\) \w+ \w+ \w+(?:; \(\d,\d\) \w+ \w+ \w+)*)\. (?P<count>\d+) shapes?\.", re.ASCII
)


class CaptionError(ValueError):
    """A caption that does not follow the grammar, or claims something impossible."""


def parse_caption(text: str) -> Scene:
    """The shapes a caption claims, each placed at the centre of its cell (radius: the size's
    smallest). Raises CaptionError when the text is not a well-formed caption: wrong grammar,
    an unknown colour/kind, a repeated cell or colour+kind, or a count that is not the number of
    entries."""
    match = _CAPTION.fullmatch(text.strip())
    if match is None:
        raise CaptionError(f"not a caption: {text!r}")
    shapes = []
    for entry in match.group("entries").split("; "):
        found = _ENTRY.fullmatch(entry)
        if found is None:
            raise CaptionError(f"not a caption entry: {entry!r}")
        column, row, size, color, kind = found.groups()
        if color not in COLORS or kind not in KINDS or not (1 <= int(column) <= GRID and 1 <= int(row) <= GRID):
            raise CaptionError(f"impossible caption entry: {entry!r}")
        cx, cy = (int(column) - 1) * CELL + CELL // 2, (int(row) - 1) * CELL + CELL // 2
        shapes.append(Shape(kind, color, size, SIZES[size][0], cx, cy))
    if len({(s.column, s.row) for s in shapes}) != len(shapes) or len({s.name for s in shapes}) != len(shapes):
        raise CaptionError(f"a cell or a shape is listed twice: {text!r}")
    if int(match.group("count")) != len(shapes):
        raise CaptionError(f"the count does not match the entries: {text!r}")
    return Scene(tuple(shapes))
