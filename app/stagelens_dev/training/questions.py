"""Questions about a scene, with exact answers and four-stage targets.

A question is a *spec* (its kind and parameters, JSON-able) applied to a scene. ``random_spec``
draws a spec only where its answer is unambiguous in the image; ``build_item`` turns (scene,
spec) into the question text, the answer and the four stages, reading nothing but what the
caption says (cells, sizes, colours, kinds). So ``build_item(parse_caption(c), spec)`` is what
a model that wrote caption ``c`` should reason and conclude: that is how a model's reasoning is
checked against its own caption.

Kinds (the first eight are the original ones):

- ``color``: colour of the only circle/square/triangle.
- ``count_all``, ``count_color``, ``count_kind``: how many shapes / of a colour / of a kind.
- ``exists``: is there a <colour> <kind> (yes/no).
- ``left``, ``above``: which of two is further left / higher up (centres >= ``MIN_GAP`` px apart).
- ``bigger``: which of two is bigger (different size classes).
- ``count_diff``: how many more <colour|kind> than <colour|kind>, a difference of two counts.
- ``ref_color``: the colour of the nearest shape left/right/above/below a reference shape, by
  column (row) in the caption; asked only when no other shape shares the reference's column
  (row) and the nearest one is alone in its column (row).
- ``count_bigger``: how many shapes are bigger than a reference shape (find its size, then count).
- ``count_rel``: how many shapes are left of / above a reference shape (find its column or row,
  then count), asked only when no other shape shares it.

CONCLUSION is the bare answer; REASONING derives it from the caption alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from stagelens.settings import STAGE_NAMES
from stagelens_dev.training.scenes import COLORS, KINDS, Scene, Shape, caption, random_scene

MIN_GAP = 12  # pixels between centres along the compared axis for left/above questions
ORIGINAL_KINDS = ("color", "count_all", "count_color", "count_kind", "left", "above", "bigger", "exists")
HARDER_KINDS = ("count_diff", "ref_color", "count_bigger", "count_rel")
QUESTION_KINDS = ORIGINAL_KINDS + HARDER_KINDS
STAGES = tuple(name.upper() for name in STAGE_NAMES)  # the tags: SUMMARY, CAPTION, REASONING, CONCLUSION
DIRECTIONS = {  # direction: (axis attribute, sign of "further in that direction", words)
    "left": ("column", -1, "left of"),
    "right": ("column", 1, "right of"),
    "above": ("row", -1, "above"),
    "below": ("row", 1, "below"),
}

Spec = dict[str, Any]


class Underivable(ValueError):
    """The spec cannot be answered from this scene (a shape it names is missing, or a tie)."""


@dataclass(frozen=True)
class Item:
    """One question about one scene, with its exact answer and four-stage target."""

    kind: str
    question: str
    answer: str
    stages: tuple[str, str, str, str]  # SUMMARY, CAPTION, REASONING, CONCLUSION contents
    choices: tuple[str, ...] = ()
    spec: Spec | None = None

    @property
    def target(self) -> str:
        return "\n\n".join(f"<{tag}>{text}</{tag}>" for tag, text in zip(STAGES, self.stages, strict=True))


def _plural(kind: str) -> str:
    return kind + "s"


def _group_words(by: str, value: str) -> str:
    return f"{value} shapes" if by == "color" else _plural(value)


def _members(scene: Scene, by: str, value: str) -> list[Shape]:
    return [s for s in scene.in_reading_order() if getattr(s, by if by == "color" else "kind") == value]


def _listing(shapes: list[Shape]) -> str:
    return ", ".join(f"{i} {s.name}" for i, s in enumerate(shapes, 1))


def _count_sentence(what: str, shapes: list[Shape]) -> str:
    if not shapes:
        return f"The caption has no {what}. That makes 0."
    return f"Counting the {what}: {_listing(shapes)}. That makes {len(shapes)}."


def _need(scene: Scene, name: str) -> Shape:
    shape = scene.by_name(name)
    if shape is None:
        raise Underivable(f"no {name} in the scene")
    return shape


def _ref_phrase(scene: Scene, ref: Shape) -> str:
    """'large square' when that names one shape, else 'green square' (always unique)."""
    same = [s for s in scene.shapes if s.size == ref.size and s.kind == ref.kind]
    return f"{ref.size} {ref.kind}" if len(same) == 1 else ref.name


# --------------------------------------------------------------------------------- building


def build_item(scene: Scene, spec: Spec) -> Item:
    """The item a spec asks about this scene, derived from the scene's caption facts only."""
    kind = spec["kind"]
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown question kind {kind!r}")
    question, answer, summary, reasoning, choices = builder(scene, spec)
    return Item(kind, question, answer, (summary, caption(scene), reasoning, answer), choices, dict(spec))


_Built = tuple[str, str, str, str, tuple[str, ...]]


def _color(scene: Scene, spec: Spec) -> _Built:
    target = spec["shape"]
    matching = [s for s in scene.shapes if s.kind == target]
    if len(matching) != 1:
        raise Underivable(f"{len(matching)} {_plural(target)}, not one")
    s = matching[0]
    return (
        f"What color is the {target}?",
        s.color,
        f"I need to find the {target} and name its color.",
        f"There is one {target}: the {s.size} {s.name} at {s.cell}. So the {target} is {s.color}.",
        (),
    )


def _count_all(scene: Scene, spec: Spec) -> _Built:
    shapes = scene.in_reading_order()
    return (
        "How many shapes are there?",
        str(len(shapes)),
        "I need to count all the shapes in the image.",
        f"Counting every shape: {_listing(shapes)}. That makes {len(shapes)}.",
        (),
    )


def _count_group(scene: Scene, spec: Spec) -> _Built:
    by = "color" if spec["kind"] == "count_color" else "kind"
    value = spec["color"] if by == "color" else spec["shape"]
    what = _group_words(by, value)
    members = _members(scene, by, value)
    return (
        f"How many {what} are there?",
        str(len(members)),
        f"I need to count the {what}.",
        _count_sentence(what, members),
        (),
    )


def _exists(scene: Scene, spec: Spec) -> _Built:
    name = f"{spec['color']} {spec['shape']}"
    present = scene.by_name(name) is not None
    answer = "yes" if present else "no"
    why = (
        f"The caption lists a {name}, so the answer is yes."
        if present
        else f"The caption has no {name}, so the answer is no."
    )
    return (
        f"Is there a {name} in the image?",
        answer,
        f"I need to check whether a {name} is in the image.",
        why,
        (
            "yes",
            "no",
        ),
    )


def _compare_position(scene: Scene, spec: Spec) -> _Built:
    a, b = _need(scene, spec["a"]), _need(scene, spec["b"])
    axis, word = ("column", "further left") if spec["kind"] == "left" else ("row", "higher up")
    va, vb = getattr(a, axis), getattr(b, axis)
    if va == vb:
        raise Underivable(f"same {axis}")
    winner, loser = (a, b) if va < vb else (b, a)
    wv, lv = getattr(winner, axis), getattr(loser, axis)
    question = (
        f"Which is further left, the {a.name} or the {b.name}?"
        if spec["kind"] == "left"
        else f"Which is higher up, the {a.name} or the {b.name}?"
    )
    why = (
        f"The {winner.name} is in {axis} {wv} and the {loser.name} is in {axis} {lv}. "
        f"{wv} is less than {lv}, so the {winner.name} is {word}."
    )
    summary = f"I need to compare the {axis}s of the {a.name} and the {b.name}."
    return question, winner.name, summary, why, (a.name, b.name)


def _bigger(scene: Scene, spec: Spec) -> _Built:
    a, b = _need(scene, spec["a"]), _need(scene, spec["b"])
    if a.size == b.size:
        raise Underivable("same size")
    big, small = (a, b) if a.size == "large" else (b, a)
    return (
        f"Which is bigger, the {a.name} or the {b.name}?",
        big.name,
        f"I need to compare the sizes of the {a.name} and the {b.name}.",
        f"The {big.name} is large and the {small.name} is small, so the {big.name} is bigger.",
        (a.name, b.name),
    )


def _count_diff(scene: Scene, spec: Spec) -> _Built:
    by, first, second = spec["by"], spec["a"], spec["b"]
    wa, wb = _group_words(by, first), _group_words(by, second)
    ma, mb = _members(scene, by, first), _members(scene, by, second)
    if len(ma) < len(mb):
        raise Underivable(f"fewer {wa} than {wb}")
    diff = len(ma) - len(mb)
    why = f"{_count_sentence(wa, ma)} {_count_sentence(wb, mb)} {len(ma)} minus {len(mb)} is {diff}."
    return (
        f"How many more {wa} than {wb} are there?",
        str(diff),
        f"I need to count the {wa} and the {wb} and subtract.",
        why,
        (),
    )


def _ref_color(scene: Scene, spec: Spec) -> _Built:
    ref = _need(scene, spec["ref"])
    axis, sign, words = DIRECTIONS[spec["dir"]]
    phrase = spec["phrase"]
    pos = getattr(ref, axis)
    side = [s for s in scene.in_reading_order() if (getattr(s, axis) - pos) * sign > 0]
    if not side:
        raise Underivable(f"nothing {words} the reference")
    nearest_pos = min(abs(getattr(s, axis) - pos) for s in side)
    nearest = [s for s in side if abs(getattr(s, axis) - pos) == nearest_pos]
    if len(nearest) != 1:
        raise Underivable("two shapes are equally near")
    n = nearest[0]
    listed = ", ".join(f"the {s.name} in {axis} {getattr(s, axis)}" for s in side)
    why = (
        f"The {phrase} is in {axis} {pos}. {words.capitalize()} {axis} {pos}: {listed}. "
        f"The nearest is the {n.name}. So it is {n.color}."
    )
    where = {"left": "to its left", "right": "to its right", "above": "above it", "below": "below it"}[spec["dir"]]
    return (
        f"What color is the nearest shape {words} the {phrase}?",
        n.color,
        f"I need to find the {phrase}, then the nearest shape {where}, and name its color.",
        why,
        (),
    )


def _count_bigger(scene: Scene, spec: Spec) -> _Built:
    ref = _need(scene, spec["ref"])
    question = f"How many shapes are bigger than the {ref.name}?"
    summary = f"I need to find the size of the {ref.name}, then count the shapes bigger than it."
    if ref.size == "large":
        return question, "0", summary, f"The {ref.name} is large, so no shape is bigger. That makes 0.", ()
    large = [s for s in scene.in_reading_order() if s.size == "large"]
    return question, str(len(large)), summary, f"The {ref.name} is small. {_count_sentence('large shapes', large)}", ()


def _count_rel(scene: Scene, spec: Spec) -> _Built:
    ref = _need(scene, spec["ref"])
    axis, sign, words = DIRECTIONS[spec["dir"]]
    pos = getattr(ref, axis)
    side = [s for s in scene.in_reading_order() if (getattr(s, axis) - pos) * sign > 0]
    relation = "less than" if sign < 0 else "greater than"
    if side:
        listed = ", ".join(f"{i} {s.name} in {axis} {getattr(s, axis)}" for i, s in enumerate(side, 1))
        counted = f"Counting the shapes in {axis}s {relation} {pos}: {listed}. That makes {len(side)}."
    else:
        counted = f"No shape is in a {axis} {relation} {pos}. That makes 0."
    return (
        f"How many shapes are {words} the {ref.name}?",
        str(len(side)),
        f"I need to find the {axis} of the {ref.name}, then count the shapes {words} it.",
        f"The {ref.name} is in {axis} {pos}. {counted}",
        (),
    )


_BUILDERS = {
    "color": _color,
    "count_all": _count_all,
    "count_color": _count_group,
    "count_kind": _count_group,
    "exists": _exists,
    "left": _compare_position,
    "above": _compare_position,
    "bigger": _bigger,
    "count_diff": _count_diff,
    "ref_color": _ref_color,
    "count_bigger": _count_bigger,
    "count_rel": _count_rel,
}


# --------------------------------------------------------------------------------- choosing


def _alone_on_axis(scene: Scene, ref: Shape, axis: str) -> bool:
    return all(getattr(s, axis) != getattr(ref, axis) for s in scene.shapes if s is not ref)


def _ref_color_specs(scene: Scene) -> list[Spec]:
    specs = []
    for ref in scene.shapes:
        for direction, (axis, sign, _) in DIRECTIONS.items():
            if not _alone_on_axis(scene, ref, axis):
                continue
            side = [s for s in scene.shapes if (getattr(s, axis) - getattr(ref, axis)) * sign > 0]
            if not side:
                continue
            distances = sorted(abs(getattr(s, axis) - getattr(ref, axis)) for s in side)
            if len(distances) > 1 and distances[0] == distances[1]:
                continue
            specs.append({"kind": "ref_color", "ref": ref.name, "phrase": _ref_phrase(scene, ref), "dir": direction})
    return specs


def candidate_specs(scene: Scene, kind: str) -> list[Spec]:
    """Every spec of this kind whose answer is unambiguous in this scene's image."""
    shapes = scene.shapes
    if kind == "color":
        return [{"kind": kind, "shape": k} for k in KINDS if sum(s.kind == k for s in shapes) == 1]
    if kind == "count_all":
        return [{"kind": kind}]
    if kind == "count_color":
        return [{"kind": kind, "color": c} for c in COLORS]
    if kind == "count_kind":
        return [{"kind": kind, "shape": k} for k in KINDS]
    if kind == "exists":
        return [{"kind": kind, "color": c, "shape": k} for c in COLORS for k in KINDS]
    if kind in ("left", "above"):
        attr = "cx" if kind == "left" else "cy"
        return [
            {"kind": kind, "a": a.name, "b": b.name}
            for a in shapes
            for b in shapes
            if a is not b and abs(getattr(a, attr) - getattr(b, attr)) >= MIN_GAP
        ]
    if kind == "bigger":
        return [{"kind": kind, "a": a.name, "b": b.name} for a in shapes for b in shapes if a.size != b.size]
    if kind == "count_diff":
        specs = []
        for by, values in (("color", tuple(COLORS)), ("kind", KINDS)):
            for first in values:
                for second in values:
                    n1, n2 = len(_members(scene, by, first)), len(_members(scene, by, second))
                    if first != second and n1 >= n2 and n1 > 0:
                        specs.append({"kind": kind, "by": by, "a": first, "b": second})
        return specs
    if kind == "ref_color":
        return _ref_color_specs(scene)
    if kind == "count_bigger":
        return [{"kind": kind, "ref": s.name} for s in shapes]
    if kind == "count_rel":
        return [
            {"kind": kind, "ref": s.name, "dir": d}
            for s in shapes
            for d in ("left", "above")
            if _alone_on_axis(scene, s, DIRECTIONS[d][0])
        ]
    raise ValueError(f"unknown question kind {kind!r}")


def possible_kinds(scene: Scene) -> list[str]:
    """Question kinds that have an unambiguous answer for this scene."""
    return [k for k in QUESTION_KINDS if candidate_specs(scene, k)]


def random_spec(scene: Scene, rng: random.Random, kind: str) -> Spec:
    specs = candidate_specs(scene, kind)
    if not specs:
        raise ValueError(f"question kind {kind!r} has no unambiguous answer for this scene")
    if kind == "exists":  # half yes, half no
        present = {s.name for s in scene.shapes}
        want = rng.random() < 0.5
        specs = [s for s in specs if (f"{s['color']} {s['shape']}" in present) == want]
    elif kind == "count_bigger" and rng.random() < 0.7:  # mostly a small reference: a non-zero count
        specs = [s for s in specs if _need(scene, s["ref"]).size == "small"] or specs
    return rng.choice(specs)


def make_item(scene: Scene, rng: random.Random, kind: str | None = None) -> Item:
    kinds = possible_kinds(scene)
    kind = kind or rng.choice(kinds)
    return build_item(scene, random_spec(scene, rng, kind))


def random_example(rng: random.Random, kind: str | None = None) -> tuple[Scene, Item]:
    """A fresh scene and one question about it (a kind the scene supports, uniformly if None)."""
    while True:
        scene = random_scene(rng)
        if kind is None or candidate_specs(scene, kind):
            return scene, make_item(scene, rng, kind)
