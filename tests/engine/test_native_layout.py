"""The C sources' shape: small files, one header each, no include (hence call) circle, and text
from Python always parsed with its length."""

from __future__ import annotations

import re
from pathlib import Path

import stagelens.engine

NATIVE = Path(stagelens.engine.__file__).parent / "native"
MAX_LINES = 600


def _sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(NATIVE.glob("*.[ch]"))}


def test_no_c_file_is_over_600_lines():
    long = {name: text.count("\n") for name, text in _sources().items() if text.count("\n") > MAX_LINES}
    assert not long


def test_each_c_file_has_its_own_header_and_no_include_circle():
    sources = _sources()
    local = {name for name in sources if name.endswith(".h")}
    for name in sources:
        if name.endswith(".c") and name != "module.c":  # module.c is the top: nothing calls into it
            assert name[:-2] + ".h" in local, f"{name} has no header"
    # a module (foo.c + foo.h) depends on every local header either file includes
    deps: dict[str, set[str]] = {}
    for name, text in sources.items():
        stem = name.rsplit(".", 1)[0]
        includes = set(re.findall(r'^#include "([^"]+)"', text, re.M))
        deps.setdefault(stem, set()).update(h[:-2] for h in includes if h in local and h[:-2] != stem)
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "include circle: " + " -> ".join([*path, node])
        state[node] = "open"
        for dep in sorted(deps.get(node, ())):
            visit(dep, [*path, node])
        state[node] = "done"

    for node in sorted(deps):
        visit(node, [])
    assert "sl_search" not in deps["sl_judge"] and "sl_trunk" in deps["sl_judge"]


# formats that take text (s, z, y, U ... ) must take its length too; paths may use plain "s"/"z"
# (a NUL in a path is an error, and the ValueError says so)
PATH_FORMATS = {"sziiiiii"}


def test_text_from_python_is_parsed_with_its_length():
    bad = []
    for name, text in _sources().items():
        if not (name.startswith("py_") or name == "module.c"):
            continue
        for fmt in re.findall(r"PyArg_Parse\w*\([^\"]*\"([^\"]*)\"", text):
            if fmt in PATH_FORMATS:
                continue
            for i, ch in enumerate(fmt):
                if ch in "szy" and fmt[i + 1 : i + 2] != "#":
                    bad.append(f"{name}: {fmt!r}")
    assert not bad
