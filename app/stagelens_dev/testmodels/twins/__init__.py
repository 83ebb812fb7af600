"""Random-weight "twins" of the catalog's families: each family's exact layout, tiny and fast.

``make_twin(family, out_dir, seed=0)`` writes (or reuses) ``twin-{key}-text.gguf`` and
``twin-{key}-mmproj.gguf``: the same generator version, family and seed always give byte-identical
files, and files already made that way are kept (like the tiny preset). ``family`` is a twin key
(``"qwen2.5-vl"``) or a catalog family (``"Qwen2.5-VL"``). See families.py for what each copies.
"""

from __future__ import annotations

from pathlib import Path

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.testmodels.presets import TestModelFiles
from stagelens_dev.testmodels.twins.families import BY_CATALOG, BY_KEY, FAMILIES, Family, family_named
from stagelens_dev.testmodels.twins.writer import write_mmproj, write_text

__all__ = ["BY_CATALOG", "BY_KEY", "FAMILIES", "TWIN_GENERATOR_VERSION", "Family", "family_named", "make_twin"]

# Bump whenever the bytes written for a given (family, seed) change.
TWIN_GENERATOR_VERSION = 1


def _stamp(kind: str, family: Family, seed: int) -> GeneratorStamp:
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return GeneratorStamp(TWIN_GENERATOR_VERSION, kind, f"twin-{family.key}", seed)


def make_twin(family: str, out_dir: Path, *, seed: int = 0) -> TestModelFiles:
    """Write (or reuse) a family's twin in ``out_dir``."""
    chosen = family_named(family)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TestModelFiles(
        text=out_dir / f"twin-{chosen.key}-text.gguf", mmproj=out_dir / f"twin-{chosen.key}-mmproj.gguf"
    )
    text_stamp, mmproj_stamp = _stamp("text", chosen, seed), _stamp("mmproj", chosen, seed)
    gguf_write.ensure_file(files.text, text_stamp, lambda path: write_text(path, chosen, text_stamp))
    gguf_write.ensure_file(files.mmproj, mmproj_stamp, lambda path: write_mmproj(path, chosen, mmproj_stamp))
    return files
