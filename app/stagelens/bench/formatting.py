"""The bench table for people (plain text, Markdown) and rows read back from `--json` output."""

from __future__ import annotations

from typing import Any

from stagelens.bench.ceiling import Ceiling
from stagelens.bench.runner import BenchRow
from stagelens.bench.turns import TurnRow


def _opt(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else ""


def format_table(rows: list[BenchRow]) -> str:
    head = (
        f"{'mode':<10}{'px':>5}{'beam':>5}{'scorer':>9}{'wall s':>9}{'bound s':>9}{'eff':>6}{'×greedy':>9}{'enc':>5}"
        f"{'chunks':>7}{'prefill':>9}{'decode':>8}{'judge':>7}{'tok/s':>8}{'1st text':>9}{'bound':>7}"
        f"{'RSS MB':>9}{'KV cells':>9}{'batched×':>10}{'×logprob':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}" if r.batched_speedup else ""
        lines.append(
            f"{r.mode:<10}{r.image_side or '':>5}{r.beam:>5}{r.scorer:>9}{r.wall_s:>9.3f}{_opt(r.bound_s, '.3f'):>9}"
            f"{_opt(r.efficiency, '.2f'):>6}{r.vs_greedy:>9.2f}{r.image_encodes:>5}{r.image_chunks:>7}"
            f"{r.prefill_tokens:>9}{r.decode_tokens:>8}{r.judge_calls:>7}{r.tokens_per_s:>8.1f}"
            f"{_opt(r.first_text_s, '.3f'):>9}{_opt(r.first_text_bound_s, '.3f'):>7}{r.rss_mb:>9.1f}{r.peak_cells:>9}"
            f"{speed:>10}"
            f"{_opt(r.vs_logprob, '.2f'):>10}"
        )
    return "\n".join(lines)


def format_markdown(rows: list[BenchRow]) -> str:
    lines = [
        "| mode | image px | beam | scorer | wall s | bound s | efficiency | × greedy | image encodes | image chunks "
        "| prefill tok | decode tok | judge calls | decode tok / wall s | first text s | its bound s | RSS MB "
        "| peak KV cells | batched speedup | × logprob |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}×" if r.batched_speedup else ""
        lines.append(
            f"| {r.mode} | {r.image_side or ''} | {r.beam} | {r.scorer} | {r.wall_s:.2f} | {_opt(r.bound_s, '.2f')} "
            f"| {_opt(r.efficiency, '.2f')} | {r.vs_greedy:.2f} | {r.image_encodes} | {r.image_chunks} "
            f"| {r.prefill_tokens} | {r.decode_tokens} | {r.judge_calls} | {r.tokens_per_s:.1f} "
            f"| {_opt(r.first_text_s, '.3f')} | {_opt(r.first_text_bound_s, '.3f')} | {r.rss_mb:.0f} | {r.peak_cells} "
            f"| {speed} "
            f"| {_opt(r.vs_logprob, '.2f')} |"
        )
    return "\n".join(lines)


def format_ceiling(ceiling: Ceiling) -> str:
    """One line: llama.cpp's own rates on this context, which every row's bound is made of."""
    rates = " · ".join(
        f"{w} seq {ceiling.tokens_per_s(w):.1f} tok/s ({ceiling.tokens_per_s(w) / ceiling.tokens_per_s(1):.2f}×)"
        for w in sorted(ceiling.step_s)
    )
    deep = ""
    if ceiling.deep_prefix:
        slower = " · ".join(
            f"{w} seq {ceiling.deep_step_s[w] / ceiling.step_s[w]:.2f}×" for w in sorted(ceiling.deep_step_s)
        )
        deep = (
            f"; after a {ceiling.deep_prefix}-token prefix a step takes {slower} as long, and each row's steps"
            " are timed at the cells they attended to"
        )
    return (
        f"ceiling (raw llama_decode, same context, {ceiling.prefix}-token prefix): prefill "
        f"{ceiling.prefill_tok_s:.0f} tok/s · {rates}{deep}; efficiency = bound / wall"
    )


def format_turns(rows: list[TurnRow]) -> str:
    head = (
        f"{'turn':>5}{'wall s':>9}{'×turn 2':>9}{'read':>7}{'own turn':>10}{'held':>7}{'enc':>5}{'decode':>8}  only own"
    )
    lines = ["conversation (each turn after the ones before it):", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.turn:>5}{r.wall_s:>9.3f}{_opt(r.vs_first_follow_up, '.2f'):>9}{r.prompt_tokens:>7}{r.own_tokens:>10}"
            f"{r.held_tokens:>7}{r.image_encodes:>5}{r.decode_tokens:>8}  {'yes' if r.read_own_turn_only else 'NO'}"
        )
    return "\n".join(lines)


def format_turns_markdown(rows: list[TurnRow]) -> str:
    lines = [
        "| turn | wall s | × turn 2 | prompt tok read | its own turn | held before | image encodes | decode tok |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.turn} | {r.wall_s:.2f} | {_opt(r.vs_first_follow_up, '.2f')} | {r.prompt_tokens} | {r.own_tokens} "
            f"| {r.held_tokens} | {r.image_encodes} | {r.decode_tokens} |"
        )
    return "\n".join(lines)


def rows_from_json(data: dict[str, Any]) -> list[BenchRow]:
    return [BenchRow(**row) for row in data["rows"]]
