"""The README's architecture tree ("How it is built"), read as paths."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## How it is built"
INDENT = 2  # spaces per level of the tree
DESCRIPTION_COLUMN = 16  # a line indented this far only continues the description above it
NAME = re.compile(r"^[\w.\-]+(/[\w.\-]+)*/?$")


def tree_block(readme: str) -> list[str]:
    """The lines of the first fenced block after the section heading."""
    after = readme.split(SECTION, 1)[1]
    fenced = after.split("```", 2)[1]
    return fenced.splitlines()[1:]  # the first line is the fence's language (empty)


def named_paths(lines: list[str]) -> list[Path]:
    """Every file or folder the tree names, as a path from the repository root."""
    folders: list[str] = []  # the folder open at each depth
    paths: list[Path] = []
    for line in lines:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if not stripped or indent >= DESCRIPTION_COLUMN:
            continue
        depth = indent // INDENT
        names_part = re.split(r"\s{2,}", stripped, maxsplit=1)[0]
        names = [name.strip() for name in names_part.split(",")]
        if not all(NAME.match(name) for name in names):
            continue
        del folders[depth:]
        parent = Path(*folders) if folders else Path()
        for name in names:
            paths.append(parent / name.rstrip("/"))
        if len(names) == 1 and names[0].endswith("/"):
            folders.append(names[0].rstrip("/"))
    return paths
