"""Synthetic scenes of flat shapes, questions about them, exact answers and four-stage targets.

A scene is 2-5 shapes (circle, square, triangle) in 5 colours and 2 sizes on a 64x64 canvas,
no two with the same colour and kind, none overlapping. Rendering adds jitter (background tint,
shape colour, pixel noise) so the images are not all alike.

Positions are described on the 8x8 grid of the vision model's patches: column and row 1-8 of a
shape's centre. Every question is asked only when its answer is unambiguous (relations need
centres at least ``MIN_GAP`` pixels apart, "bigger" needs different size classes), so each
answer is exact. The target text has the shape the engine forces:
``<SUMMARY>…</SUMMARY>\\n\\n<CAPTION>…</CAPTION>\\n\\n<REASONING>…</REASONING>\\n\\n<CONCLUSION>…</CONCLUSION>``;
CAPTION lists every shape, REASONING derives the answer from the caption alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from stagelens.settings import STAGE_NAMES

IMAGE_SIZE = 64
GRID = 8  # cells per side: one per 8 px patch
COLORS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (225, 195, 30),
    "purple": (140, 55, 175),
}
KINDS = ("circle", "square", "triangle")
SIZES = {"small": (4, 5), "large": (8, 10)}  # half-extent range in pixels
MIN_GAP = 12  # pixels between centres along the compared axis for left/above questions
QUESTION_KINDS = ("color", "count_all", "count_color", "count_kind", "left", "above", "bigger", "exists")
STAGES = tuple(name.upper() for name in STAGE_NAMES)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five")


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
        return self.cx * GRID // IMAGE_SIZE + 1

    @property
    def row(self) -> int:
        return self.cy * GRID // IMAGE_SIZE + 1


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: tuple[int, int, int]
    noise_seed: int


@dataclass(frozen=True)
class Item:
    """One question about one scene, with its exact answer and four-stage target."""

    kind: str
    question: str
    answer: str
    stages: tuple[str, str, str, str]  # SUMMARY, CAPTION, REASONING, CONCLUSION contents
    choices: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return "\n\n".join(f"<{tag}>{text}</{tag}>" for tag, text in zip(STAGES, self.stages, strict=True))


# ------------------------------------------------------------------------------------- scenes


def random_scene(rng: random.Random, n_min: int = 2, n_max: int = 5) -> Scene:
    n = rng.randint(n_min, n_max)
    combos = rng.sample([(c, k) for c in COLORS for k in KINDS], n)
    shapes: list[Shape] = []
    for color, kind in combos:
        for _ in range(200):
            size = rng.choice(tuple(SIZES))
            radius = rng.randint(*SIZES[size])
            cx = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
            cy = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
            if all(max(abs(cx - s.cx), abs(cy - s.cy)) >= radius + s.radius + 3 for s in shapes):
                shapes.append(Shape(kind, color, size, radius, cx, cy))
                break
    shade = rng.randint(215, 250)
    background = (shade + rng.randint(-5, 5), shade + rng.randint(-5, 5), shade - rng.randint(0, 15))
    red, green, blue = (min(255, v) for v in background)
    return Scene(tuple(shapes), (red, green, blue), rng.randrange(2**31))


def render(scene: Scene) -> Image.Image:
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), scene.background)
    draw = ImageDraw.Draw(img)
    jitter = random.Random(scene.noise_seed)
    for s in scene.shapes:
        fill = tuple(max(0, min(255, v + jitter.randint(-20, 20))) for v in COLORS[s.color])
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


# ----------------------------------------------------------------------------------- questions


def caption(scene: Scene) -> str:
    ordered = sorted(scene.shapes, key=lambda s: (s.row, s.column))
    parts = [f"a {s.size} {s.name} at ({s.column},{s.row})" for s in ordered]
    return f"{len(parts)} shapes: " + "; ".join(parts) + "."


def _plural(kind: str) -> str:
    return kind + "s"


def possible_kinds(scene: Scene) -> list[str]:
    """Question kinds that have an unambiguous answer for this scene."""
    kinds = ["count_all", "count_color", "count_kind", "exists"]
    counts = {k: sum(s.kind == k for s in scene.shapes) for k in KINDS}
    if any(c == 1 for c in counts.values()):
        kinds.append("color")
    pairs = [(a, b) for a in scene.shapes for b in scene.shapes if a is not b]
    if any(abs(a.cx - b.cx) >= MIN_GAP for a, b in pairs):
        kinds.append("left")
    if any(abs(a.cy - b.cy) >= MIN_GAP for a, b in pairs):
        kinds.append("above")
    if any(a.size != b.size for a, b in pairs):
        kinds.append("bigger")
    return [k for k in QUESTION_KINDS if k in kinds]


def make_item(scene: Scene, rng: random.Random, kind: str | None = None) -> Item:
    kinds = possible_kinds(scene)
    kind = kind or rng.choice(kinds)
    if kind not in kinds:
        raise ValueError(f"question kind {kind!r} has no unambiguous answer for this scene")
    cap = caption(scene)
    shapes = scene.shapes
    if kind == "color":
        target_kind = rng.choice([k for k in KINDS if sum(s.kind == k for s in shapes) == 1])
        s = next(s for s in shapes if s.kind == target_kind)
        return Item(
            kind,
            f"What color is the {target_kind}?",
            s.color,
            (
                f"I need to find the {target_kind} and name its color.",
                cap,
                f"There is one {target_kind}: the {s.size} {s.name}. So the {target_kind} is {s.color}.",
                s.color,
            ),
        )
    if kind == "count_all":
        listed = ", ".join(f"{i} {s.name}" for i, s in enumerate(_reading_order(shapes), 1))
        n = len(shapes)
        return Item(
            kind,
            "How many shapes are there?",
            str(n),
            (
                "I need to count all the shapes in the image.",
                cap,
                f"Counting every shape: {listed}. That makes {n}.",
                str(n),
            ),
        )
    if kind == "count_color":
        color = rng.choice(list(COLORS))
        return _count_item(
            kind,
            f"How many {color} shapes are there?",
            f"{color} shapes",
            cap,
            [s for s in _reading_order(shapes) if s.color == color],
        )
    if kind == "count_kind":
        shape_kind = rng.choice(KINDS)
        return _count_item(
            kind,
            f"How many {_plural(shape_kind)} are there?",
            _plural(shape_kind),
            cap,
            [s for s in _reading_order(shapes) if s.kind == shape_kind],
        )
    if kind == "exists":
        present = rng.random() < 0.5
        if present:
            s = rng.choice(shapes)
            color, shape_kind = s.color, s.kind
        else:
            names = {(s.color, s.kind) for s in shapes}
            color, shape_kind = rng.choice([(c, k) for c in COLORS for k in KINDS if (c, k) not in names])
        answer = "yes" if present else "no"
        why = (
            f"The caption lists a {color} {shape_kind}, so the answer is yes."
            if present
            else f"The caption has no {color} {shape_kind}, so the answer is no."
        )
        return Item(
            kind,
            f"Is there a {color} {shape_kind} in the image?",
            answer,
            (f"I need to check whether a {color} {shape_kind} is in the image.", cap, why, answer),
            choices=("yes", "no"),
        )
    if kind in ("left", "above"):
        axis = "cx" if kind == "left" else "cy"
        a, b = rng.choice(
            [
                (a, b)
                for a in shapes
                for b in shapes
                if a is not b and abs(getattr(a, axis) - getattr(b, axis)) >= MIN_GAP
            ]
        )
        winner = a if getattr(a, axis) < getattr(b, axis) else b
        loser = b if winner is a else a
        if kind == "left":
            question = f"Which is further left, the {a.name} or the {b.name}?"
            summary = f"I need to compare the columns of the {a.name} and the {b.name}."
            why = (
                f"The {winner.name} is in column {winner.column} and the {loser.name} is in column "
                f"{loser.column}. {winner.column} is less than {loser.column}, "
                f"so the {winner.name} is further left."
            )
        else:
            question = f"Which is higher up, the {a.name} or the {b.name}?"
            summary = f"I need to compare the rows of the {a.name} and the {b.name}."
            why = (
                f"The {winner.name} is in row {winner.row} and the {loser.name} is in row "
                f"{loser.row}. {winner.row} is less than {loser.row}, so the {winner.name} is higher up."
            )
        return Item(kind, question, winner.name, (summary, cap, why, winner.name), choices=(a.name, b.name))
    if kind == "bigger":
        a, b = rng.choice([(a, b) for a in shapes for b in shapes if a is not b and a.size != b.size])
        big, small = (a, b) if a.size == "large" else (b, a)
        return Item(
            kind,
            f"Which is bigger, the {a.name} or the {b.name}?",
            big.name,
            (
                f"I need to compare the sizes of the {a.name} and the {b.name}.",
                cap,
                f"The {big.name} is large and the {small.name} is small, so the {big.name} is bigger.",
                big.name,
            ),
            choices=(a.name, b.name),
        )
    raise ValueError(f"unknown question kind {kind!r}")


def _reading_order(shapes: tuple[Shape, ...]) -> list[Shape]:
    return sorted(shapes, key=lambda s: (s.row, s.column))


def _count_item(kind: str, question: str, what: str, cap: str, matching: list[Shape]) -> Item:
    n = len(matching)
    if n == 0:
        why = f"The caption has no {what}. That makes 0."
    else:
        listed = ", ".join(f"{i} {s.name}" for i, s in enumerate(matching, 1))
        why = f"Counting the {what}: {listed}. That makes {n}."
    return Item(kind, question, str(n), (f"I need to count the {what}.", cap, why, str(n)))


def random_example(rng: random.Random, kind: str | None = None) -> tuple[Scene, Item]:
    """A fresh scene and one question about it (a kind the scene supports, uniformly if None)."""
    while True:
        scene = random_scene(rng)
        if kind is None or kind in possible_kinds(scene):
            return scene, make_item(scene, rng, kind)
