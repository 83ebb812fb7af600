"""Where StageLens keeps things (platformdirs), overridable with STAGELENS_HOME."""

from __future__ import annotations

import os
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
