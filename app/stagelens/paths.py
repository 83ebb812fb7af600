"""Where StageLens keeps things (platformdirs), overridable with STAGELENS_HOME."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs

APP = "StageLens"


def _base(kind: str) -> Path:
    home = os.environ.get("STAGELENS_HOME")
    if home:
        return Path(home) / kind
    finder = {
        "data": platformdirs.user_data_dir,
        "config": platformdirs.user_config_dir,
        "cache": platformdirs.user_cache_dir,
    }[kind]
    return Path(finder(APP, appauthor=False))


def data_dir() -> Path:
    return _base("data")


def config_dir() -> Path:
    return _base("config")


def cache_dir() -> Path:
    return _base("cache")


def test_models_dir() -> Path:
    return cache_dir() / "test-models"


def bundled(env_var: str, relative: str, accept: Callable[[Path], bool]) -> Path | None:
    """The first of: $env_var, the frozen app's copy, the installed wheel's copy, the source checkout's copy.

    `relative` is the path under the project root (``resources``, ``models/demo``); an installed wheel holds
    ``resources`` as ``stagelens/_resources`` and ``models/...`` as ``stagelens/_models/...``.
    """
    package = Path(__file__).resolve().parent
    top, _, rest = relative.partition("/")
    in_wheel = package / f"_{top}" / rest if rest else package / f"_{top}"
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = [
        os.environ.get(env_var),
        Path(frozen) / relative if frozen else None,  # PyInstaller
        in_wheel,
        package.parents[1] / relative,  # source checkout
    ]
    for candidate in candidates:
        if candidate and accept(Path(candidate)):
            return Path(candidate)
    return None
