"""Where the source checkout is: tooling writes committed files (icons, samples) into it."""

from __future__ import annotations

from pathlib import Path


def source_root() -> Path:
    """The checkout this package runs from (an editable install), or SystemExit with what to do."""
    root = Path(__file__).resolve().parents[2]  # <root>/app/stagelens_dev/paths.py
    if not ((root / "pyproject.toml").is_file() and (root / "resources").is_dir()):
        raise SystemExit(
            f"stagelens_dev runs from {root}, which is not a StageLens source checkout: "
            "run it from one (pip install -e .)"
        )
    return root
