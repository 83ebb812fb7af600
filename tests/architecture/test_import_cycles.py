"""No import circle among our Python modules, no #include or call circle among the native C files.

Python: the graph is built with ``ast`` from app/stagelens and app/stagelens_dev. An edge is what
importing a module runs: the imported module and its parent packages (except packages that contain
the importer, which are already running). Imports under ``if TYPE_CHECKING:`` never run and are left
out. Imports inside functions are checked too, in a second graph: they break an import-time circle
but not the circle between the two modules' jobs (`bench` importing `cli` lazily while `cli` imports
`bench` lazily is still one tangle), so both graphs must be free of circles. A lazy import is for
deferring something heavy or optional, never for hiding a circle.

C: every *.c and *.h in engine/native (whatever files exist: the folder is being split up), by their
``#include "..."`` lines and by which file defines each function another file calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fixtures.import_graph import (
    call_graph,
    calls_between,
    cycles,
    include_graph,
    module_graph,
    native_files,
    python_imports,
    python_modules,
)

# Circles known on the day this test was written, with the change that removes them. Delete an entry
# once that change has landed; a circle not listed here fails.
KNOWN_C_CALL_CIRCLES: dict[tuple[str, ...], str] = {}


def _describe(cycle: list[str]) -> str:
    return " -> ".join(cycle)


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    found = python_modules()
    assert "stagelens.cli" in found and "stagelens_dev.testmodels" in found, "the graph sees both packages"
    return found


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level imports", "with imports inside functions"])
def test_no_python_import_circle(modules, lazy):
    graph = module_graph(python_imports(modules), modules, lazy=lazy)
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(_describe(c) for c in found)


def test_no_include_circle_in_the_native_sources():
    files = native_files()
    assert any(name.endswith(".c") for name in files), "the native sources are where this test looks"
    found = cycles(include_graph(files))
    assert not found, "#include circles:\n" + "\n".join(_describe(c) for c in found)


def test_no_call_circle_between_native_files():
    files = native_files()
    graph = call_graph(files)
    found = cycles(graph)

    def explain(cycle: list[str]) -> str:
        steps = zip(cycle, cycle[1:], strict=False)
        return " ; ".join(f"{a} calls {', '.join(calls_between(files, a, b))} of {b}" for a, b in steps)

    unknown = [c for c in found if tuple(sorted(set(c))) not in KNOWN_C_CALL_CIRCLES]
    assert not unknown, "call circles between native files:\n" + "\n".join(explain(c) for c in unknown)
    if found:
        reasons = "; ".join(KNOWN_C_CALL_CIRCLES[tuple(sorted(set(c)))] for c in found)
        pytest.xfail(f"known circle {', '.join(explain(c) for c in found)} ({reasons})")


# ------------------------------------------------------------------- the checks themselves can fail


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_python_graph_finds_lazy_and_module_level_circles_and_skips_type_checking(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import A\n",
            "pkg/a.py": "from pkg import b\nA = 1\n",
            "pkg/b.py": "def f():\n    from pkg.c import C\n",
            "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
            "try:\n    import optional_thing\nexcept ImportError:\n    pass\nfrom . import b\nC = 2\n",
            "other/__init__.py": "",
            "other/x.py": "import pkg.a\n",
        },
    )
    modules = python_modules(("pkg", "other"), tmp_path)
    imports = python_imports(modules)
    assert {(i.target, i.lazy, i.guarded) for i in imports if i.source == "pkg.c"} == {
        ("typing", False, False),
        ("optional_thing", False, True),
        ("pkg.b", False, False),
    }, "TYPE_CHECKING imports are left out, guarded ones marked"
    module_level = module_graph(imports, modules, lazy=False)
    assert module_level["other.x"] == {"pkg", "pkg.a"}, "importing pkg.a from outside runs pkg/__init__ too"
    assert module_level["pkg.a"] == {"pkg.b"}, "a package's own __init__ is already running: no edge back"
    assert cycles(module_level) == []
    assert cycles(module_graph(imports, modules, lazy=True)) == [["pkg.b", "pkg.c", "pkg.b"]]


def test_c_graphs_find_include_and_call_circles(tmp_path):
    _write(
        tmp_path,
        {
            "a.h": '#include "b.h"\nint a_fn(int x);\n',
            "b.h": '#include "a.h"\n#include <stdio.h>\n',
            "one.c": (
                '#include "a.h"\n// two_fn( in a comment\n'
                'int one_fn(int x) { return two_fn(x, "three_fn(") + 1; }\n'
                "static int helper(void) { return 0; }\n"
            ),
            "two.c": (
                "static int helper(void) { return 1; }\n"
                "int two_fn(int x, const char *s) { return one_fn(x) + helper(); }\n"
                "int three_fn(void) { return helper(); }\n"
            ),
        },
    )
    files = native_files(tmp_path)
    assert cycles(include_graph(files)) == [["a.h", "b.h", "a.h"]]
    graph = call_graph(files)
    assert graph["one.c"] == {"two.c"}, "calls in comments and strings do not count, own statics win"
    assert cycles(graph) == [["one.c", "two.c", "one.c"]]
    assert calls_between(files, "two.c", "one.c") == ["one_fn"]
