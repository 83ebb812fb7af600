"""Measure greedy vs batched stage-beam vs the reference cost model on one engine, in one process
and one run, with the same token budget per stage; then the hardware's ceiling on the same engine
(bench/ceiling.py) and each row's bound and efficiency against it."""

from __future__ import annotations

import io
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stagelens.bench.ceiling import (
    Ceiling,
    bound_s,
    deep_prefix_for,
    first_text_bound_s,
    measure_ceiling,
    widths_used,
)
from stagelens.engine import Engine, SearchSettings, StageEvent, UserTurn
from stagelens.images import PreparedImage, load_image
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
    cells_by_width: list[float] = field(default_factory=list)  # the mean KV cells those decodes attended to
    peak_cells: int = 0  # the most KV cells held at once (candidate steps, a stage's judging)
    bound_s: float | None = None  # the row doing only llama.cpp's work at the ceiling's rates
    efficiency: float | None = None  # bound_s / wall_s
    efficiency_at_prompt: float | None = None  # the same with every step timed after the prompt only
    first_text_s: float | None = None  # from asking to the first streamed stage text
    first_text_bound_s: float | None = None  # the prompt read before it + one decode step at the ceiling
    vs_logprob: float | None = None  # wall / the logprob row's wall at the same beam (batched rows)
    image_side: int | None = None  # the longest side of the image as sent
    repeats: list[dict[str, Any]] = field(default_factory=list)  # each repeat's wall_s, bound_s, efficiency


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


@dataclass(frozen=True)
class RowSpec:
    mode: str  # greedy | beam | reference
    beam: int
    scorer: str
    temperature: float
    image_side: int | None = None  # the longest side the image is sent at; None: as loaded


def row_specs(
    beams: Sequence[int], scorers: Sequence[str], reference: bool, image_sides: Sequence[int | None] = (None,)
) -> list[RowSpec]:
    """For each image size: greedy, then for each beam width and scorer the batched row and (unless
    left out) the reference row."""
    specs = []
    temperature = float_default("temperature")
    for side in image_sides:
        specs.append(RowSpec("greedy", 1, "logprob", 0.0, side))
        for beam in beams:
            if beam == 1:
                continue
            for scorer in scorers:
                specs.append(RowSpec("beam", beam, scorer, temperature, side))
                if reference:
                    specs.append(RowSpec("reference", beam, scorer, temperature, side))
    return specs


def sized_image(path: str, side: int | None, max_side: int) -> PreparedImage:
    """The image as the bench sends it: downscaled to `max_side`, or scaled (up or down) so that its
    longest side is `side`."""
    if side is None:
        return load_image(path, max_side=max_side)
    from PIL import Image

    with Image.open(path) as img:
        scale = side / max(img.size)
        resized = img.convert("RGB").resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    out = io.BytesIO()
    resized.save(out, format="PNG")
    return load_image(out.getvalue(), max_side=side, name=f"{Path(path).name}@{side}px")


def run_bench(
    engine: Engine,
    image_path: str,
    beams: list[int],
    scorers: Sequence[str],
    budget: int,
    reference: bool = True,
    repeat: int = int_default("repeat"),
    image_sides: Sequence[int | None] = (None,),
) -> tuple[list[BenchRow], list[Ceiling]]:
    """Every row, then the hardware's ceiling at every batch width they used, `repeat` times in turn
    (same seed, so the same tokens), so that load drifting on a shared machine hits rows and ceiling
    alike. Each repeat's ratios (× greedy, batched speedup, judge / logprob, efficiency against that
    repeat's ceiling) are taken inside the repeat; a row reports their medians and the median wall.
    Returns the rows and each repeat's ceiling."""
    images = {side: sized_image(image_path, side, engine.settings.image_max_side) for side in image_sides}
    specs = row_specs(beams, scorers, reference, image_sides)
    measure_once(engine, images[specs[0].image_side], specs[0], budget)  # warm-up: first-use allocations
    runs: list[list[BenchRow]] = []
    ceilings: list[Ceiling] = []
    for _ in range(max(1, repeat)):
        rows = [measure_once(engine, images[spec.image_side], spec, budget) for spec in specs]
        # the prefix: as long as the prompt the rows read; the deep one: as deep as their steps went
        prefix, widths = rows[0].prompt_tokens, widths_used(r.steps_by_width for r in rows)
        deep = deep_prefix_for(prefix, (r.cells_by_width for r in rows), widths, engine.settings.n_ctx)
        ceiling = measure_ceiling(engine, prefix, widths, 1, deep_prefix=deep)
        for row in rows:
            add_bounds(row, ceiling)
        add_ratios(rows)
        runs.append(rows)
        ceilings.append(ceiling)
    return [median_row([run[i] for run in runs]) for i in range(len(specs))], ceilings


def measure_once(engine: Engine, image: PreparedImage, spec: RowSpec, budget: int) -> BenchRow:
    engine.reset_cache()  # every row pays for its own image encode and prefill
    settings = SearchSettings(
        beam=spec.beam,
        scorer=spec.scorer,
        temperature=spec.temperature,
        seed=1234,
        max_stage_tokens=budget,
        mode="reference" if spec.mode == "reference" else "batched",
    )
    first = _FirstText()
    asked = time.perf_counter()
    trace = engine.answer(UserTurn(QUESTION, (image,)), settings=settings, on_event=first)
    s = trace.stats
    return BenchRow(
        mode=spec.mode,
        beam=spec.beam,
        image_side=max(image.sent_size),
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
        cells_by_width=list(s.cells_by_width),
        peak_cells=s.peak_cells,
        first_text_s=round(first.at - asked, 4) if first.at is not None else None,
    )


def add_ratios(rows: list[BenchRow]) -> None:
    """The ratios inside one repeat, between rows of the same image size: × greedy, reference / batched
    at the same beam and scorer, and judge / logprob for batched rows at the same beam."""
    for row in rows:
        greedy = next(r for r in rows if r.mode == "greedy" and r.image_side == row.image_side)
        row.vs_greedy = round(row.wall_s / greedy.wall_s, 2)
    for row in rows:
        if row.mode != "beam":
            continue
        for other in (r for r in rows if r.image_side == row.image_side):
            if other.mode == "reference" and (other.beam, other.scorer) == (row.beam, row.scorer):
                row.batched_speedup = round(other.wall_s / row.wall_s, 2)
            if other.mode == "beam" and other.beam == row.beam and other.scorer == "logprob" and row is not other:
                row.vs_logprob = round(row.wall_s / other.wall_s, 2)


def _median_of(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def median_row(runs: Sequence[BenchRow]) -> BenchRow:
    """The repeat with the median wall time (its counts, its RSS), carrying the medians of the
    per-repeat ratios and every repeat's own wall, bound and efficiency."""
    middle = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    row = replace(middle)
    row.repeats = [
        {"wall_s": r.wall_s, "prefill_s": r.prefill_s, "bound_s": r.bound_s, "efficiency": r.efficiency} for r in runs
    ]
    for name in ("vs_greedy", "batched_speedup", "vs_logprob", "efficiency", "efficiency_at_prompt", "bound_s"):
        value = _median_of([getattr(r, name) for r in runs])
        setattr(row, name, round(value, 4 if name == "bound_s" else 3) if value is not None else None)
    return row


def add_bounds(row: BenchRow, ceiling: Ceiling) -> None:
    """Set the row's bound, efficiency and first-text bound from its own counts and the ceiling."""
    bound = bound_s(ceiling, row.prefill_s, row.steps_by_width, row.judge_tokens, row.cells_by_width)
    row.bound_s = round(bound, 4)
    # from the numbers the row shows, so that its efficiency is their ratio (tiny-model walls are ms)
    row.efficiency = round(row.bound_s / row.wall_s, 3) if row.wall_s > 0 else None
    at_prompt = bound_s(ceiling, row.prefill_s, row.steps_by_width, row.judge_tokens)
    row.efficiency_at_prompt = round(at_prompt / row.wall_s, 3) if row.wall_s > 0 else None
    lead_width = 1 if row.mode == "reference" else row.beam
    row.first_text_bound_s = round(first_text_bound_s(ceiling, row.first_prefill_s, lead_width), 4)
