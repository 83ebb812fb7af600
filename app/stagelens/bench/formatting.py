"""The bench table for people (plain text, Markdown) and rows read back from `--json` output."""

from __future__ import annotations

from typing import Any

from stagelens.bench.runner import BenchRow


def format_table(rows: list[BenchRow]) -> str:
    head = (
        f"{'mode':<10}{'beam':>5}{'scorer':>9}{'wall s':>9}{'×greedy':>9}{'enc':>5}{'chunks':>7}{'prefill':>9}"
        f"{'decode':>8}{'judge':>7}{'tok/s':>8}{'RSS MB':>9}{'batched×':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}" if r.batched_speedup else ""
        lines.append(
            f"{r.mode:<10}{r.beam:>5}{r.scorer:>9}{r.wall_s:>9.3f}{r.vs_greedy:>9.2f}{r.image_encodes:>5}{r.image_chunks:>7}"
            f"{r.prefill_tokens:>9}{r.decode_tokens:>8}{r.judge_calls:>7}{r.tokens_per_s:>8.1f}{r.rss_mb:>9.1f}"
            f"{speed:>10}"
        )
    return "\n".join(lines)


def format_markdown(rows: list[BenchRow]) -> str:
    lines = [
        "| mode | beam | scorer | wall s | × greedy | image encodes | image chunks | prefill tok | decode tok "
        "| judge calls | decode tok / wall s | RSS MB | batched speedup |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}×" if r.batched_speedup else ""
        lines.append(
            f"| {r.mode} | {r.beam} | {r.scorer} | {r.wall_s:.2f} | {r.vs_greedy:.2f} | {r.image_encodes} "
            f"| {r.image_chunks} "
            f"| {r.prefill_tokens} | {r.decode_tokens} | {r.judge_calls} | {r.tokens_per_s:.1f} "
            f"| {r.rss_mb:.0f} | {speed} |"
        )
    return "\n".join(lines)


def rows_from_json(data: dict[str, Any]) -> list[BenchRow]:
    return [BenchRow(**row) for row in data["rows"]]
