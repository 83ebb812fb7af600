"""Find the project's resources/ folder: source tree, installed wheel, or frozen app."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .paths import bundled

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@cache
def resources_dir() -> Path:
    folder = bundled("STAGELENS_RESOURCES", "resources", Path.is_dir)
    if folder is None:
        raise FileNotFoundError("StageLens resources folder not found")
    return folder


def sample_images() -> list[Path]:
    folder = resources_dir() / "samples"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
