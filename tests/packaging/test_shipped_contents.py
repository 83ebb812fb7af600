"""What users get contains no tooling: the PyInstaller bundle leaves out stagelens_dev, torch and pyarrow, every
module it ships imports without them, and the wheel's `stagelens` package holds no tooling module.

The bundle is computed the way PyInstaller finds modules: every import statement (inside functions
too) from the entry point and the hidden imports, stopping at the excluded packages. The slow frozen
build in test_packaging.py checks the real archive the same way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures.import_graph import (
    OUR_PACKAGES,
    ROOT,
    Import,
    import_time_targets,
    module_graph,
    python_imports,
    python_modules,
    reachable,
)

sys.path.insert(0, str(ROOT / "packaging"))
import common as packaging_common  # noqa: E402

SPECS = ("packaging/stagelens.spec", "packaging/macos/stagelens.spec", "packaging/windows/stagelens.spec")
TOOLING = ("stagelens_dev", "torch", "pyarrow")
# Files that used to hold tooling inside the product.
MOVED_OUT = ("stagelens/models/testmodel.py", "stagelens/ui/stall.py")


def _top(name: str) -> str:
    return name.split(".")[0]


def _excluded(name: str) -> bool:
    return any(name == e or name.startswith(e + ".") for e in packaging_common.PY_EXCLUDES)


def _entry_roots() -> list[str]:
    entry = ast.parse((ROOT / "packaging" / "entry.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(entry) if isinstance(n, ast.ImportFrom) and n.module]
    return [*imported, *packaging_common.HIDDEN_IMPORTS]


def _bundle(modules: dict[str, Path], imports: list[Import]) -> set[str]:
    """Our modules PyInstaller puts in the app: reachable by any import, excluded packages cut off."""
    graph = module_graph(imports, modules, lazy=True)
    shipped = {m: {t for t in targets if not _excluded(t)} for m, targets in graph.items() if not _excluded(m)}
    return reachable(shipped, [r for r in _entry_roots() if r in shipped])


def _imports_of_tooling(imports: list[Import], sources: set[str]) -> list[Import]:
    return [
        i
        for i in imports
        if i.source in sources and any(_top(t) in TOOLING for t in import_time_targets(i.source, i.target))
    ]


@pytest.fixture(scope="module")
def graph_facts() -> tuple[dict[str, Path], list[Import]]:
    modules = python_modules()
    return modules, python_imports(modules)


def test_every_spec_leaves_out_the_tooling():
    assert set(TOOLING) <= set(packaging_common.PY_EXCLUDES)
    assert not [h for h in packaging_common.HIDDEN_IMPORTS if _excluded(h)]
    for spec in SPECS:
        tree = ast.parse((ROOT / spec).read_text(encoding="utf-8"))
        analysis = next(
            n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Analysis"
        )
        excludes = next(k.value for k in analysis.keywords if k.arg == "excludes")
        used = {n.attr for n in ast.walk(excludes) if isinstance(n, ast.Attribute)}
        assert "PY_EXCLUDES" in used, f"{spec} does not exclude common.PY_EXCLUDES"


def test_the_bundle_holds_the_app_and_no_tooling(graph_facts):
    modules, imports = graph_facts
    bundle = _bundle(modules, imports)
    for needed in ("stagelens.cli", "stagelens.bench.command", "stagelens.models.gguf_file", "stagelens.ui.app"):
        assert needed in bundle
    assert not [m for m in bundle if _top(m) not in OUR_PACKAGES or _top(m) == "stagelens_dev"]


def test_shipped_modules_reach_tooling_only_through_guarded_lazy_imports(graph_facts):
    """A module-level import of stagelens_dev or torch would break the packaged app on start; a lazy one
    must sit in a try that turns its absence into a message (bench: 'presets need the development install')."""
    modules, imports = graph_facts
    bundle = _bundle(modules, imports)
    tooling = _imports_of_tooling(imports, bundle)
    assert {i.source for i in tooling} >= {"stagelens.bench.command", "stagelens.models.default"}
    bad = [f"{i.source}:{i.line} imports {i.target}" for i in tooling if not (i.lazy and i.guarded)]
    assert not bad, "unguarded imports of tooling in shipped modules:\n" + "\n".join(bad)


def test_the_stagelens_package_imports_no_torch_or_tooling_at_module_level(graph_facts):
    modules, imports = graph_facts
    product = {m for m in modules if _top(m) == "stagelens"}
    closure = reachable(module_graph(imports, modules, lazy=False), product)
    bad = [f"{i.source}:{i.line} imports {i.target}" for i in _imports_of_tooling(imports, closure) if not i.lazy]
    assert not bad, "\n".join(bad)


def test_the_wheel_ships_stagelens_without_tooling_and_stagelens_dev_beside_it(tmp_path):
    """What `pip install .` installs: setup.py's build_py output is the wheel's Python content."""
    lib = tmp_path / "lib"
    subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(tmp_path),
            "build_py",
            "--build-lib",
            str(lib),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    product = {str(p.relative_to(lib)) for p in (lib / "stagelens").rglob("*.py")}
    assert "stagelens/bench/command.py" in product and "stagelens/models/gguf_file.py" in product
    assert not [p for p in MOVED_OUT if p in product]
    assert not list((lib / "stagelens").rglob("stagelens_dev*"))
    dev = {str(p.relative_to(lib)) for p in (lib / "stagelens_dev").rglob("*.py")}
    assert {"stagelens_dev/cli.py", "stagelens_dev/testmodels/presets.py", "stagelens_dev/benchmarks/stall.py"} <= dev
    built = python_modules(OUR_PACKAGES, lib)
    built_imports = python_imports(built)
    product_modules = {m for m in built if _top(m) == "stagelens"}
    closure = reachable(module_graph(built_imports, built, lazy=False), product_modules)
    assert not [i for i in _imports_of_tooling(built_imports, closure) if not i.lazy]
