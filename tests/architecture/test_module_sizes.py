"""Small modules with one job each: no Python module over about 450 lines (C files: tests/engine)."""

from __future__ import annotations

from tests.fixtures.import_graph import APP

MAX_PYTHON_LINES = 450


def test_no_python_module_is_over_450_lines():
    long = {
        str(path.relative_to(APP)): lines
        for path in sorted(APP.rglob("*.py"))
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_PYTHON_LINES
    }
    assert not long, f"over {MAX_PYTHON_LINES} lines: {long}"
