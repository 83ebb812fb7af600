"""The window's one spacing scale and one type scale; every layout margin, gap and font size in
ui/ comes from here (the stylesheet in theme.py too)."""

from __future__ import annotations

# spacing, in pixels: SPACE[1] is the small gap inside a control group, SPACE[2] between
# controls, SPACE[3] around a panel's content, SPACE[4] between sections, SPACE[5] page margins
SPACE = (0, 4, 8, 12, 16, 24, 32)

# type sizes relative to the system's base font
TYPE = {
    "caption": 0.85,  # hints, version labels, status items
    "body": 1.0,
    "answer": 1.15,  # the conclusion
    "title": 1.3,  # dialog and panel titles
    "display": 1.8,  # the empty window's title
}
HEADING_SCALE = {1: 1.35, 2: 1.2, 3: 1.1, 4: 1.0, 5: 1.0, 6: 1.0}  # Markdown headings, of the text they are in

RADIUS = {"small": 4, "medium": 8, "large": 12}
ICON_PX = 16


def points(base_pt: float, role: str) -> float:
    """A type-scale size in points, from the base font's size."""
    return round(base_pt * TYPE[role], 1)
