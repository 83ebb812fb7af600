"""Measure greedy vs batched stage-beam vs the reference cost model on one engine, in one process
and one run, with the same token budget per stage; then the hardware's ceiling on the same engine
(bench/ceiling.py) and each row's bound and efficiency against it."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

from stagelens.bench.ceiling import Ceiling, bound_s, first_text_bound_s, measure_ceiling, widths_used
from stagelens.engine import Engine, SearchSettings, StageEvent, UserTurn
from stagelens.images import load_image
from stagelens.settings import float_default, int_default

QUESTION = "How many red cups are on the table, and where is the blue one?"


@dataclass
class BenchRow:
    mode: str  # greedy | beam | reference
    beam: int
    scorer: str
    wall_s: float
    image_encodes: int  # images encoded
    prefill_tokens: int
    decode_tokens: int
    judge_calls: int
    tokens_per_s: float
    rss_mb: float
    vs_greedy: float = 0.0
    batched_speedup: float | None = None  # reference wall / batched wall, same beam
    image_chunks: int = 0  # the images' chunks encoded (tiles, slices, overviews)
    prompt_tokens: int = 0  # of prefill_tokens, the prompt's (images included)
    judge_tokens: int = 0
    prefill_s: float = 0.0  # in llama.cpp reading prompt, images and tags (Stats.prefill_s)
    first_prefill_s: float = 0.0  # of it, before the first stage's first decode
    judge_s: float = 0.0
    merged: int = 0  # candidates merged before scoring into an identical one (not judged), all stages
    steps_by_width: list[int] = field(default_factory=list)  # candidate decodes by sequences per batch
    bound_s: float | None = None  # the row doing only llama.cpp's work at the ceiling's rates
    efficiency: float | None = None  # bound_s / wall_s
    first_text_s: float | None = None  # from asking to the first streamed stage text
    first_text_bound_s: float | None = None  # the prompt read before it + one decode step at the ceiling


def rss_mb() -> float:
    """Resident memory now (not the peak), in MiB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _FirstText:
    """Records when the first stage text arrives (the answer's first streamed words)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, event: StageEvent) -> None:
        if self.at is None and event.kind == "text" and event.text:
            self.at = time.perf_counter()


def run_bench(
    engine: Engine,
    image_path: str,
    beams: list[int],
    scorer: str,
    budget: int,
    reference: bool = True,
    repeat: int = int_default("repeat"),
) -> tuple[list[BenchRow], Ceiling]:
    """Each row is run `repeat` times (same seed, so the same tokens) and the run with the
    median wall time is kept: a shared 2-core laptop varies by ~20 % from run to run. The ceiling
    is measured after the rows, at every batch width they used, as medians of `repeat` runs."""
    image = load_image(image_path, max_side=engine.settings.image_max_side)
    rows: list[BenchRow] = []

    def measure(mode: str, beam: int, temperature: float) -> BenchRow:
        runs = sorted((measure_once(mode, beam, temperature) for _ in range(max(1, repeat))), key=lambda r: r.wall_s)
        return runs[len(runs) // 2]

    def measure_once(mode: str, beam: int, temperature: float) -> BenchRow:
        engine.reset_cache()  # every row pays for its own image encode and prefill
        settings = SearchSettings(
            beam=beam,
            scorer=scorer if beam > 1 else "logprob",
            temperature=temperature,
            seed=1234,
            max_stage_tokens=budget,
            mode="reference" if mode == "reference" else "batched",
        )
        first = _FirstText()
        asked = time.perf_counter()
        trace = engine.answer(UserTurn(QUESTION, (image,)), settings=settings, on_event=first)
        s = trace.stats
        return BenchRow(
            mode=mode,
            beam=beam,
            scorer=settings.scorer,
            wall_s=round(s.wall_s, 3),
            image_encodes=s.image_encodes,
            image_chunks=s.image_chunks,
            prefill_tokens=s.prefill_tokens,
            decode_tokens=s.decode_tokens,
            judge_calls=s.judge_calls,
            tokens_per_s=round(s.decode_tokens / s.wall_s, 1) if s.wall_s else 0.0,
            rss_mb=round(rss_mb(), 1),
            prompt_tokens=s.prompt_tokens,
            judge_tokens=s.judge_tokens,
            prefill_s=s.prefill_s,
            first_prefill_s=s.first_prefill_s,
            judge_s=s.judge_s,
            merged=sum(stage.merged for stage in trace.stages),
            steps_by_width=list(s.steps_by_width),
            first_text_s=round(first.at - asked, 4) if first.at is not None else None,
        )

    measure_once("greedy", 1, 0.0)  # warm-up: first-use allocations, page cache
    greedy = measure("greedy", 1, 0.0)
    greedy.vs_greedy = 1.0
    rows.append(greedy)
    temperature = float_default("temperature")
    for beam in beams:
        if beam == 1:
            continue
        batched = measure("beam", beam, temperature)
        batched.vs_greedy = round(batched.wall_s / greedy.wall_s, 2)
        rows.append(batched)
        if reference:
            ref = measure("reference", beam, temperature)
            ref.vs_greedy = round(ref.wall_s / greedy.wall_s, 2)
            batched.batched_speedup = round(ref.wall_s / batched.wall_s, 2)
            rows.append(ref)
    # the prefix: as long as the prompt the rows read, so each step attends to as many cells
    ceiling = measure_ceiling(engine, greedy.prompt_tokens, widths_used(r.steps_by_width for r in rows), repeat)
    for row in rows:
        add_bounds(row, ceiling)
    return rows, ceiling


def add_bounds(row: BenchRow, ceiling: Ceiling) -> None:
    """Set the row's bound, efficiency and first-text bound from its own counts and the ceiling."""
    bound = bound_s(ceiling, row.prefill_s, row.steps_by_width, row.judge_tokens)
    row.bound_s = round(bound, 4)
    row.efficiency = round(bound / row.wall_s, 3) if row.wall_s > 0 else None
    lead_width = 1 if row.mode == "reference" else row.beam
    row.first_text_bound_s = round(first_text_bound_s(ceiling, row.first_prefill_s, lead_width), 4)
