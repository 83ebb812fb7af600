"""The bench table for people (plain text, Markdown) and rows read back from `--json` output."""

from __future__ import annotations

from typing import Any

from stagelens.bench.ceiling import Ceiling
from stagelens.bench.runner import BenchRow


def _opt(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else ""


def format_table(rows: list[BenchRow]) -> str:
    head = (
        f"{'mode':<10}{'beam':>5}{'scorer':>9}{'wall s':>9}{'bound s':>9}{'eff':>6}{'×greedy':>9}{'enc':>5}"
        f"{'chunks':>7}{'prefill':>9}{'decode':>8}{'judge':>7}{'tok/s':>8}{'1st text':>9}{'bound':>7}"
        f"{'RSS MB':>9}{'batched×':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}" if r.batched_speedup else ""
        lines.append(
            f"{r.mode:<10}{r.beam:>5}{r.scorer:>9}{r.wall_s:>9.3f}{_opt(r.bound_s, '.3f'):>9}"
            f"{_opt(r.efficiency, '.2f'):>6}{r.vs_greedy:>9.2f}{r.image_encodes:>5}{r.image_chunks:>7}"
            f"{r.prefill_tokens:>9}{r.decode_tokens:>8}{r.judge_calls:>7}{r.tokens_per_s:>8.1f}"
            f"{_opt(r.first_text_s, '.3f'):>9}{_opt(r.first_text_bound_s, '.3f'):>7}{r.rss_mb:>9.1f}{speed:>10}"
        )
    return "\n".join(lines)


def format_markdown(rows: list[BenchRow]) -> str:
    lines = [
        "| mode | beam | scorer | wall s | bound s | efficiency | × greedy | image encodes | image chunks "
        "| prefill tok | decode tok | judge calls | decode tok / wall s | first text s | its bound s | RSS MB "
        "| batched speedup |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}×" if r.batched_speedup else ""
        lines.append(
            f"| {r.mode} | {r.beam} | {r.scorer} | {r.wall_s:.2f} | {_opt(r.bound_s, '.2f')} "
            f"| {_opt(r.efficiency, '.2f')} | {r.vs_greedy:.2f} | {r.image_encodes} | {r.image_chunks} "
            f"| {r.prefill_tokens} | {r.decode_tokens} | {r.judge_calls} | {r.tokens_per_s:.1f} "
            f"| {_opt(r.first_text_s, '.3f')} | {_opt(r.first_text_bound_s, '.3f')} | {r.rss_mb:.0f} | {speed} |"
        )
    return "\n".join(lines)


def format_ceiling(ceiling: Ceiling) -> str:
    """One line: llama.cpp's own rates on this context, which every row's bound is made of."""
    rates = " · ".join(
        f"{w} seq {ceiling.tokens_per_s(w):.1f} tok/s ({ceiling.tokens_per_s(w) / ceiling.tokens_per_s(1):.2f}×)"
        for w in sorted(ceiling.step_s)
    )
    return (
        f"ceiling (raw llama_decode, same context, {ceiling.prefix}-token prefix): prefill "
        f"{ceiling.prefill_tok_s:.0f} tok/s · {rates}; efficiency = bound / wall"
    )


def rows_from_json(data: dict[str, Any]) -> list[BenchRow]:
    return [BenchRow(**row) for row in data["rows"]]
