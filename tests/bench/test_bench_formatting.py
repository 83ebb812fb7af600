"""The bench table as people read it, and rows read back from `stagelens bench --json`."""

from __future__ import annotations

from dataclasses import asdict

from stagelens.bench import BenchRow, format_markdown, format_table, rows_from_json

ROWS = [
    BenchRow("greedy", 1, "logprob", 4.561, 1, 324, 188, 0, 41.2, 933.0, vs_greedy=1.0),
    BenchRow("beam", 4, "judge", 9.87, 1, 330, 752, 12, 76.2, 990.4, vs_greedy=2.16, batched_speedup=3.05),
    BenchRow("reference", 4, "judge", 30.1, 4, 1296, 752, 12, 25.0, 990.4, vs_greedy=6.6, image_chunks=20),
]


def test_plain_table_has_a_header_a_rule_and_one_line_per_row():
    lines = format_table(ROWS).splitlines()
    assert len(lines) == 2 + len(ROWS) and set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].split()[:4] == ["greedy", "1", "logprob", "4.561"]
    assert lines[3].split()[-1] == "3.05" and lines[4].split()[-1] == "990.4", "no speedup on reference rows"
    assert lines[4].split()[5:7] == ["4", "20"], "images encoded, then their chunks"


def test_markdown_table_has_as_many_cells_as_columns():
    lines = format_markdown(ROWS).splitlines()
    columns = lines[0].count("|")
    assert len(lines) == 2 + len(ROWS) and all(line.count("|") == columns for line in lines)
    assert "| 3.05× |" in lines[3] and lines[4].endswith("|  |")


def test_rows_read_back_from_json():
    assert rows_from_json({"rows": [asdict(r) for r in ROWS]}) == ROWS
