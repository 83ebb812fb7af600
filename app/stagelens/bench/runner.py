"""Measure greedy vs batched stage-beam vs the reference cost model on one engine, in one process
and one run, with the same token budget per stage."""

from __future__ import annotations

import resource
from dataclasses import dataclass

from stagelens.engine import Engine, SearchSettings, UserTurn
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


def rss_mb() -> float:
    """Resident memory now (not the peak), in MiB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(
    engine: Engine,
    image_path: str,
    beams: list[int],
    scorer: str,
    budget: int,
    reference: bool = True,
    repeat: int = int_default("repeat"),
) -> list[BenchRow]:
    """Each row is run `repeat` times (same seed, so the same tokens) and the run with the
    median wall time is kept: a shared 2-core laptop varies by ~20 % from run to run."""
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
        trace = engine.answer(UserTurn(QUESTION, (image,)), settings=settings)
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
    return rows
