"""Draw the sample images in resources/samples/ (deterministic: same Pillow, same bytes).

Each scene has a known true answer, listed in resources/samples/README.md, which this
script also writes so the descriptions cannot drift from the drawings.

    python -m stagelens_dev.assets.make_samples [OUT_DIR]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from stagelens_dev.paths import source_root

# Shapes are drawn at this multiple of the final size, then shrunk: cheap anti-aliasing.
SUPERSAMPLE = 3

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Point = tuple[float, float]

RED = (214, 40, 40)
BLUE = (30, 90, 200)
GREEN = (40, 160, 70)
YELLOW = (240, 200, 30)


def font(size: int) -> Font:
    """Pillow's bundled font: identical on every machine, no system fonts needed."""
    return ImageFont.load_default(size=size * SUPERSAMPLE)


def scaled(points: list[Point]) -> list[Point]:
    return [(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in points]


def box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return scaled([(x0, y0), (x1, y1)])


def centred_text(draw: ImageDraw.ImageDraw, centre: Point, text: str, fnt: Font, fill: tuple) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt)
    cx, cy = centre[0] * SUPERSAMPLE, centre[1] * SUPERSAMPLE
    draw.text((cx - (left + right) / 2, cy - (top + bottom) / 2), text, font=fnt, fill=fill)


def canvas(size: tuple[int, int], colour: tuple) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("RGB", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), colour)
    return im, ImageDraw.Draw(im)


def finish(im: Image.Image) -> Image.Image:
    size = (im.width // SUPERSAMPLE, im.height // SUPERSAMPLE)
    return im.resize(size, Image.Resampling.LANCZOS)


# --- scenes ------------------------------------------------------------------


def draw_shapes() -> Image.Image:
    im, draw = canvas((320, 240), (244, 243, 238))
    draw.ellipse(box(30, 25, 110, 105), fill=RED)  # top left
    draw.rectangle(box(205, 25, 285, 105), fill=BLUE)  # top right
    draw.polygon(scaled([(70, 135), (25, 215), (115, 215)]), fill=GREEN)  # bottom left
    draw.ellipse(box(205, 135, 285, 215), fill=RED)  # bottom right
    draw.rectangle(box(140, 100, 180, 140), fill=YELLOW)  # small, centre
    return finish(im)


def draw_cup(draw: ImageDraw.ImageDraw, left: float, base: float, colour: tuple) -> None:
    """A flat side-view mug: tapered body, handle on the right, soft shadow."""
    top = base - 70
    draw.ellipse(box(left - 6, base - 6, left + 56, base + 6), fill=(120, 78, 44))
    draw.arc(box(left + 38, top + 14, left + 68, top + 50), -90, 90, fill=colour, width=18)
    draw.polygon(scaled([(left, top), (left + 50, top), (left + 44, base), (left + 6, base)]), fill=colour)
    draw.ellipse(box(left, top - 6, left + 50, top + 6), fill=(60, 30, 25))


def draw_cups() -> Image.Image:
    im, draw = canvas((400, 300), (226, 232, 238))
    draw.rectangle(box(0, 170, 400, 300), fill=(176, 120, 70))  # table top
    for y in (200, 232, 266):  # planks
        draw.line(scaled([(0, y), (400, y)]), fill=(140, 92, 52), width=2 * SUPERSAMPLE)
    draw.rectangle(box(0, 290, 400, 300), fill=(120, 78, 44))  # front edge
    for left, colour in ((40, RED), (125, RED), (210, BLUE), (295, RED)):
        draw_cup(draw, left, 215, colour)
    return finish(im)


CHART_DATA = (("Apples", 12), ("Bananas", 7), ("Cherries", 18), ("Dates", 4))


def draw_chart() -> Image.Image:
    width, height = 400, 300
    im, draw = canvas((width, height), (255, 255, 255))
    left, right, top, bottom = 50, 380, 50, 250
    per_unit = (bottom - top) / 20
    small, big = font(12), font(16)

    centred_text(draw, (width / 2, 22), "Fruit sold on Monday", big, (20, 20, 20))
    for value in range(0, 21, 5):
        y = bottom - value * per_unit
        draw.line(scaled([(left, y), (right, y)]), fill=(215, 215, 215), width=SUPERSAMPLE)
        centred_text(draw, (left - 18, y), str(value), small, (80, 80, 80))
    draw.line(scaled([(left, top - 5), (left, bottom), (right, bottom)]), fill=(40, 40, 40), width=2 * SUPERSAMPLE)

    slot = (right - left) / len(CHART_DATA)
    for i, (label, value) in enumerate(CHART_DATA):
        x0 = left + i * slot + slot * 0.2
        x1 = left + (i + 1) * slot - slot * 0.2
        y0 = bottom - value * per_unit
        draw.rectangle(box(x0, y0, x1, bottom), fill=(70, 130, 180))
        centred_text(draw, ((x0 + x1) / 2, y0 - 10), str(value), small, (20, 20, 20))
        centred_text(draw, ((x0 + x1) / 2, bottom + 16), label, small, (20, 20, 20))
    return finish(im)


# --- output ------------------------------------------------------------------

Scene = tuple[str, Callable[[], Image.Image], dict, str]

SCENES: list[Scene] = [
    (
        "shapes.png",
        draw_shapes,
        {"optimize": True},
        "5 flat shapes on an off-white background: a red circle (top left), a blue square "
        "(top right), a green triangle (bottom left), a red circle (bottom right) and a small "
        "yellow square (centre); 2 circles, 2 squares, 1 triangle (320x240)",
    ),
    (
        "cups.jpg",
        draw_cups,
        {"quality": 90},
        "3 red cups and 1 blue cup standing in a row on a wooden table in front of a pale "
        "blue-grey wall; from left to right red, red, blue, red (400x300)",
    ),
    (
        "chart.png",
        draw_chart,
        {"optimize": True},
        "bar chart titled 'Fruit sold on Monday' with 4 bars: Apples 12, Bananas 7, "
        "Cherries 18, Dates 4; Cherries is highest, Dates lowest, total 41 (400x300)",
    ),
]


def readme() -> str:
    lines = ["# Sample images", "", "Drawn by `python -m stagelens_dev.assets.make_samples`; what each one shows:", ""]
    lines += [f"- {name}: {description}" for name, _, _, description in SCENES]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else source_root() / "resources" / "samples"
    out.mkdir(parents=True, exist_ok=True)
    for name, draw, params, _ in SCENES:
        path = out / name
        draw().save(path, **params)
        print(f"{path} ({path.stat().st_size:,} bytes)")
    (out / "README.md").write_text(readme(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
