"""`stagelens bench`: greedy vs batched stage-beam vs the reference cost model, in one process and
one run, with the same token budget per stage. `stagelens.cli` imports this package lazily; it never
imports the CLI back."""

from stagelens.bench.ceiling import Ceiling, bound_s, measure_ceiling
from stagelens.bench.command import BenchInputError, run_bench_command
from stagelens.bench.formatting import format_ceiling, format_markdown, format_table, rows_from_json
from stagelens.bench.runner import QUESTION, BenchRow, run_bench

__all__ = [
    "QUESTION",
    "BenchInputError",
    "BenchRow",
    "Ceiling",
    "bound_s",
    "format_ceiling",
    "measure_ceiling",
    "format_markdown",
    "format_table",
    "rows_from_json",
    "run_bench",
    "run_bench_command",
]
