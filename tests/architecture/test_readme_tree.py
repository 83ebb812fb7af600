"""The README's architecture tree names what exists, and every part of the product is in it."""

from __future__ import annotations

from pathlib import Path

from tests.architecture.readme_tree import README, ROOT, named_paths, tree_block

# folders whose every module the tree names one by one; the others are described as a whole
LISTED_MODULE_BY_MODULE = (
    "app/stagelens/engine",
    "app/stagelens/engine/native",
    "app/stagelens/session",
    "app/stagelens/ui",
)
SKIPPED_SUFFIXES = (".pyc", ".so", ".o", ".pyd", ".egg-info")


def _named() -> set[Path]:
    return set(named_paths(tree_block(README.read_text(encoding="utf-8"))))


def _parts(folder: str, headers_too: bool = False) -> list[Path]:
    out = []
    for child in sorted((ROOT / folder).iterdir()):
        if child.name.startswith(("_", ".")) or child.name.endswith(SKIPPED_SUFFIXES):
            continue
        if child.suffix == ".h" and not headers_too:  # each .c has its .h: the tree names the .c
            continue
        out.append(Path(folder) / child.name)
    return out


def test_the_tree_is_read_as_paths():
    named = _named()
    assert Path("app/stagelens/engine/native/sl_search.c") in named
    assert Path("app/stagelens/session") in named
    assert Path("tests") in named


def test_every_path_the_tree_names_exists():
    missing = sorted(str(path) for path in _named() if not (ROOT / path).exists())
    assert not missing, f"README names what does not exist: {missing}"


def test_every_top_level_part_of_the_packages_is_in_the_tree():
    named = _named()
    unlisted = [
        str(path)
        for folder in ("app/stagelens", "app/stagelens_dev", *LISTED_MODULE_BY_MODULE)
        for path in _parts(folder)
        if path not in named
    ]
    assert not unlisted, f"README's tree leaves out: {unlisted}"
