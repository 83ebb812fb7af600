"""What the GPU check carries: the llama-cpp-python pin (read from pyproject.toml, its one home) and the
packages the GPU machine's image lacks (its package list is in the device tool's KINDS.md), at the
versions installed here."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"
# numpy, jinja2, pillow, pytest, hypothesis, scikit-build-core, cmake and ninja are in the image
MISSING_THERE = ("gguf", "platformdirs", "diskcache")


def llama_cpp_python_pin() -> str:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(d for d in deps if d.startswith("llama-cpp-python=="))


def sdist_name() -> str:
    return f"llama_cpp_python-{llama_cpp_python_pin().split('==')[1]}.tar.gz"


def wheels() -> tuple[str, ...]:
    return tuple(f"{name}=={version(name)}" for name in MISSING_THERE)
