"""Find the project's resources/ folder: source tree, installed wheel, or frozen app."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@cache
def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    candidates = [
        os.environ.get("STAGELENS_RESOURCES"),
        getattr(sys, "_MEIPASS", None) and Path(sys._MEIPASS) / "resources",  # PyInstaller
        here / "_resources",  # installed wheel
        here.parents[1] / "resources",  # source checkout
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise FileNotFoundError("StageLens resources folder not found")


def sample_images() -> list[Path]:
    folder = resources_dir() / "samples"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
