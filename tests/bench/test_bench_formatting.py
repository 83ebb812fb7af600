"""The bench table as people read it, and rows read back from `stagelens bench --json`."""

from __future__ import annotations

from dataclasses import asdict

from stagelens.bench import BenchRow, Ceiling, format_ceiling, format_markdown, format_table, rows_from_json

ROWS = [
    BenchRow(
        "greedy",
        1,
        "logprob",
        4.561,
        1,
        324,
        188,
        0,
        41.2,
        933.0,
        vs_greedy=1.0,
        bound_s=4.3,
        efficiency=0.943,
        first_text_s=0.61,
        first_text_bound_s=0.58,
    ),  # fmt: skip
    BenchRow(
        "beam",
        4,
        "judge",
        9.87,
        1,
        330,
        752,
        12,
        76.2,
        990.4,
        vs_greedy=2.16,
        batched_speedup=3.05,
        bound_s=7.9,
        efficiency=0.8,
        first_text_s=0.7,
        first_text_bound_s=0.62,
    ),  # fmt: skip
    BenchRow(
        "reference",
        4,
        "judge",
        30.1,
        4,
        1296,
        752,
        12,
        25.0,
        990.4,
        vs_greedy=6.6,
        image_chunks=20,
        steps_by_width=[0, 800],
        peak_cells=1420,
    ),  # fmt: skip
]


def test_plain_table_has_a_header_a_rule_and_one_line_per_row():
    lines = format_table(ROWS).splitlines()
    assert len(lines) == 2 + len(ROWS) and set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].split()[:6] == ["greedy", "1", "logprob", "4.561", "4.300", "0.94"], "wall, bound, efficiency"
    assert lines[3].split()[-1] == "3.05" and lines[4].split()[-2:] == ["990.4", "1420"], "no speedup on reference rows"
    assert lines[2].split()[-4:-2] == ["0.610", "0.580"], "first text and its bound"
    ref = lines[4]
    assert ref.split()[5:7] == ["4", "20"], "images encoded, then their chunks"
    head = lines[0]
    assert ref[head.index("bound s") : head.index("eff") + 3].strip() == "", "no bound: blank columns"


def test_markdown_table_has_as_many_cells_as_columns():
    lines = format_markdown(ROWS).splitlines()
    columns = lines[0].count("|")
    assert len(lines) == 2 + len(ROWS) and all(line.count("|") == columns for line in lines)
    assert "| 3.05× |" in lines[3] and lines[4].endswith("| 990 | 1420 |  |  |")
    assert "| 9.87 | 7.90 | 0.80 | 2.16 |" in lines[3] and "| 0.700 | 0.620 |" in lines[3]


def test_ceiling_line_names_every_width_and_its_gain():
    line = format_ceiling(Ceiling(prefix=280, steps=16, prefill_tok_s=900.0, step_s={1: 0.025, 4: 0.05}))
    assert "280-token prefix" in line and "prefill 900 tok/s" in line
    assert "1 seq 40.0 tok/s (1.00×)" in line and "4 seq 80.0 tok/s (2.00×)" in line


def test_rows_read_back_from_json():
    assert rows_from_json({"rows": [asdict(r) for r in ROWS]}) == ROWS
