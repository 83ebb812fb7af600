"""`stagelens bench`: greedy vs batched stage-beam vs the reference cost model,
in one process and one run, with the same token budget per stage."""

from __future__ import annotations

import argparse
import json
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from stagelens.cli import CliError
from stagelens.engine import Engine, EngineError, LoadSettings, ModelMismatchError, SearchSettings, TemplateError
from stagelens.engine.engine import default_threads
from stagelens.engine.turns import UserTurn
from stagelens.images import ImageError, load_image
from stagelens.models.gpu import resolve_gpu_layers
from stagelens.settings import EXIT_OK, float_default, int_default, max_beam_for

QUESTION = "How many red cups are on the table, and where is the blue one?"


@dataclass
class BenchRow:
    mode: str  # greedy | beam | reference
    beam: int
    scorer: str
    wall_s: float
    image_encodes: int
    prefill_tokens: int
    decode_tokens: int
    judge_calls: int
    tokens_per_s: float
    rss_mb: float
    vs_greedy: float = 0.0
    batched_speedup: float | None = None  # reference wall / batched wall, same beam


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_files(args: argparse.Namespace) -> tuple[str, str, str]:
    if args.model:
        if not args.mmproj:
            raise CliError(f"{Path(args.model).name} needs its vision projector: pass --mmproj MMPROJ.gguf")
        return args.model, args.mmproj, Path(args.model).name
    from stagelens.models.testmodel import make_test_model
    from stagelens.paths import test_models_dir

    preset = args.test_model_preset or "bench"
    print(f"preparing the '{preset}' test model (random weights; made once, then cached)…", file=sys.stderr)
    files = make_test_model(preset, test_models_dir())
    return str(files.text), str(files.mmproj), f"preset {preset}"


def _default_image() -> str:
    from stagelens.resources import sample_images

    samples = sample_images()
    if not samples:
        raise CliError("no sample image found; pass --image")
    return str(samples[0])


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
            prefill_tokens=s.prefill_tokens,
            decode_tokens=s.decode_tokens,
            judge_calls=s.judge_calls,
            tokens_per_s=round(s.decode_tokens / s.wall_s, 1) if s.wall_s else 0.0,
            rss_mb=round(_rss_mb(), 1),
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


def format_table(rows: list[BenchRow]) -> str:
    head = (
        f"{'mode':<10}{'beam':>5}{'scorer':>9}{'wall s':>9}{'×greedy':>9}{'enc':>5}{'prefill':>9}"
        f"{'decode':>8}{'judge':>7}{'tok/s':>8}{'RSS MB':>9}{'batched×':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}" if r.batched_speedup else ""
        lines.append(
            f"{r.mode:<10}{r.beam:>5}{r.scorer:>9}{r.wall_s:>9.3f}{r.vs_greedy:>9.2f}{r.image_encodes:>5}"
            f"{r.prefill_tokens:>9}{r.decode_tokens:>8}{r.judge_calls:>7}{r.tokens_per_s:>8.1f}{r.rss_mb:>9.1f}"
            f"{speed:>10}"
        )
    return "\n".join(lines)


def format_markdown(rows: list[BenchRow]) -> str:
    lines = [
        "| mode | beam | scorer | wall s | × greedy | image encodes | prefill tok | decode tok | judge calls "
        "| decode tok / wall s | RSS MB | batched speedup |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        speed = f"{r.batched_speedup:.2f}×" if r.batched_speedup else ""
        lines.append(
            f"| {r.mode} | {r.beam} | {r.scorer} | {r.wall_s:.2f} | {r.vs_greedy:.2f} | {r.image_encodes} "
            f"| {r.prefill_tokens} | {r.decode_tokens} | {r.judge_calls} | {r.tokens_per_s:.1f} "
            f"| {r.rss_mb:.0f} | {speed} |"
        )
    return "\n".join(lines)


def rows_from_json(data: dict) -> list[BenchRow]:
    return [BenchRow(**row) for row in data["rows"]]


def run_bench_command(args: argparse.Namespace) -> int:
    try:
        beams = sorted({int(b) for b in args.beams.split(",") if b.strip()})
    except ValueError:
        raise CliError(f"--beams must be comma-separated integers, got {args.beams!r}") from None
    if not beams or min(beams) < 1:
        raise CliError("beam widths must be >= 1")
    model, mmproj, label = _model_files(args)
    image = args.image or _default_image()
    try:
        load_image(image, max_side=224)
    except ImageError as exc:
        raise CliError(str(exc)) from exc
    try:
        n_gpu_layers = resolve_gpu_layers(args.n_gpu_layers, model, mmproj, int_default("n_ctx"))
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    settings = LoadSettings(
        model=model,
        mmproj=mmproj,
        n_gpu_layers=n_gpu_layers,
        n_threads=args.n_threads,
        max_beam=max_beam_for(*beams),
        image_max_side=224,
    )
    try:
        engine = Engine(settings)
    except (EngineError, ModelMismatchError, TemplateError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    with engine:
        rows = run_bench(engine, image, beams, args.scorer, args.max_stage_tokens, not args.no_reference, args.repeat)
        meta = {
            "model": label,
            "backend": engine.backend,
            "image": image,
            "max_stage_tokens": args.max_stage_tokens,
            "repeat": args.repeat,
            "threads": engine.settings.n_threads or default_threads(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    if args.json:
        print(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=2))
    elif args.markdown:
        print(format_markdown(rows))
    else:
        print(
            f"{label} · {meta['backend']} · {meta['threads']} threads · budget {args.max_stage_tokens} tokens/stage"
            f" · median of {args.repeat} · image {image}"
        )
        print(format_table(rows))
        print(f"peak RSS {meta['peak_rss_mb']} MB")
    return EXIT_OK
