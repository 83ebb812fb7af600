"""`stagelens bench`: parse what the user asked for, prepare model and image, run, print."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stagelens.bench.ceiling import median_ceiling
from stagelens.bench.formatting import (
    format_ceiling,
    format_markdown,
    format_table,
    format_turns,
    format_turns_markdown,
)
from stagelens.bench.runner import run_bench
from stagelens.bench.turns import TurnRow, run_turns
from stagelens.engine import Engine, EngineError, LoadSettings, ModelMismatchError, SearchSettings, TemplateError
from stagelens.engine.engine import default_threads
from stagelens.engine.specs import check_judge_usable
from stagelens.images import ImageError, load_image
from stagelens.models.gpu import resolve_gpu_layers
from stagelens.settings import (
    EXIT_BAD_INPUT,
    EXIT_ENGINE,
    EXIT_OK,
    SettingError,
    float_default,
    int_default,
    max_beam_for,
    setting,
)

DEV_PACKAGE = "stagelens_dev"


class BenchInputError(Exception):
    """A one-line message for the user; exit code 2."""


def _preset_writer() -> Callable[..., Any]:
    """``make_test_model`` from the development package, which the packaged app does not ship."""
    try:
        from stagelens_dev.testmodels import make_test_model
    except ModuleNotFoundError as exc:
        if exc.name is None or not (exc.name == DEV_PACKAGE or exc.name.startswith(DEV_PACKAGE + ".")):
            raise
        raise BenchInputError(
            "the test-model presets need the development install (pip install -e . from a source checkout); "
            "pass --model TEXT.gguf --mmproj MMPROJ.gguf to benchmark a model file"
        ) from None
    return make_test_model


def _model_files(args: argparse.Namespace) -> tuple[str, str, str]:
    if args.model:
        if not args.mmproj:
            raise BenchInputError(f"{Path(args.model).name} needs its vision projector: pass --mmproj MMPROJ.gguf")
        return args.model, args.mmproj, Path(args.model).name
    from stagelens.paths import test_models_dir

    preset = args.test_model_preset or "bench"
    make_test_model = _preset_writer()
    print(f"preparing the '{preset}' test model (random weights; made once, then cached)…", file=sys.stderr)
    files = make_test_model(preset, test_models_dir())
    return str(files.text), str(files.mmproj), f"preset {preset}"


def _default_image() -> str:
    from stagelens.resources import sample_images

    samples = sample_images()
    if not samples:
        raise BenchInputError("no sample image found; pass --image")
    return str(samples[0])


def run_bench_command(args: argparse.Namespace) -> int:
    """`stagelens bench`: bad input is one line on stderr and exit code 2; an engine failure while
    measuring is one line and exit code 1."""
    try:
        return _run(args)
    except BenchInputError as exc:
        print(f"stagelens: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineError as exc:
        print(f"stagelens: engine error: {exc}", file=sys.stderr)
        return EXIT_ENGINE


def _run(args: argparse.Namespace) -> int:
    try:
        beams = sorted({int(b) for b in args.beams.split(",") if b.strip()})
    except ValueError:
        raise BenchInputError(f"--beams must be comma-separated integers, got {args.beams!r}") from None
    if not beams or min(beams) < 1:
        raise BenchInputError("beam widths must be >= 1")
    scorers = _scorers(args.scorers, args.scorer)
    sides = _image_sides(args.image_sizes)
    model, mmproj, label = _model_files(args)
    image = args.image or _default_image()
    try:
        load_image(image, max_side=224)
    except ImageError as exc:
        raise BenchInputError(str(exc)) from exc
    try:
        n_gpu_layers = resolve_gpu_layers(args.n_gpu_layers, model, mmproj, int_default("n_ctx"))
    except (OSError, ValueError) as exc:
        raise BenchInputError(str(exc)) from exc
    settings = LoadSettings(
        model=model,
        mmproj=mmproj,
        n_gpu_layers=n_gpu_layers,
        n_threads=args.n_threads,
        flash_attn=args.flash_attn,
        max_beam=max_beam_for(*beams),
        image_max_side=224,
    )
    try:
        engine = Engine(settings)
    except (EngineError, ModelMismatchError, TemplateError, ValueError) as exc:
        raise BenchInputError(str(exc)) from exc
    with engine:
        if "judge" in scorers and max(beams) > 1:
            try:
                check_judge_usable(engine.judge_spec)
            except TemplateError as exc:
                raise BenchInputError(str(exc)) from exc
        told = engine.format_prompt()
        rows, ceilings = run_bench(
            engine, image, beams, scorers, args.max_stage_tokens, not args.no_reference, args.repeat, sides
        )
        ceiling = median_ceiling(ceilings)
        turn_rows = _turns(engine, image, max(beams), scorers[0], args) if args.turns > 1 else []
        meta = {
            "prompt": {**told.to_json(), "judge_choices": engine.judge_choices},
            "model": label,
            "backend": engine.backend,
            "image": image,
            "max_stage_tokens": args.max_stage_tokens,
            "repeat": args.repeat,
            "threads": engine.settings.n_threads or default_threads(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "ceiling": ceiling.to_json(),
            "ceilings": [c.to_json() for c in ceilings],  # one per repeat, each beside that repeat's rows
            "load_average": _load_average(),
        }
    if args.json:
        turns = [{**asdict(t), "read_own_turn_only": t.read_own_turn_only} for t in turn_rows]
        print(json.dumps({**meta, "rows": [asdict(r) for r in rows], "turns": turns}, indent=2))
    elif args.markdown:
        print(format_markdown(rows))
        print()
        print(format_ceiling(ceiling))
        if turn_rows:
            print()
            print(format_turns_markdown(turn_rows))
    else:
        print(
            f"{label} · {meta['backend']} · {meta['threads']} threads · budget {args.max_stage_tokens} tokens/stage"
            f" · median of {args.repeat} · image {image}"
        )
        print(format_table(rows))
        print(format_ceiling(ceiling))
        if turn_rows:
            print(format_turns(turn_rows))
        print(f"peak RSS {meta['peak_rss_mb']} MB · {_prompt_line(told.placement, told.reason, engine.judge_choices)}")
    return EXIT_OK


def _scorers(listed: str | None, scorer: str) -> list[str]:
    if not listed:
        return [scorer]
    scorers = list(dict.fromkeys(s.strip() for s in listed.split(",") if s.strip()))
    known = setting("scorer").choices
    unknown = [s for s in scorers if s not in known]
    if unknown or not scorers:
        raise BenchInputError(f"--scorers takes a comma-separated list of {', '.join(known)}; got {listed!r}")
    return scorers


def _image_sides(listed: str | None) -> list[int | None]:
    if not listed:
        return [None]
    side = setting("image_max_side")  # each size is a longest side, as that setting's
    try:
        sides = [int(s) for s in listed.split(",") if s.strip()]
        for value in sides:
            side.check(value)
    except (ValueError, SettingError) as exc:
        raise BenchInputError(f"--image-sizes takes comma-separated sides in px: {exc}") from None
    if not sides:
        raise BenchInputError("--image-sizes lists no size")
    return list(dict.fromkeys(sides))


def _turns(engine: Engine, image: str, beam: int, scorer: str, args: argparse.Namespace) -> list[TurnRow]:
    settings = SearchSettings(
        beam=beam,
        scorer=scorer if beam > 1 else "logprob",
        temperature=float_default("temperature") if beam > 1 else 0.0,
        seed=1234,
        max_stage_tokens=args.max_stage_tokens,
    )
    prepared = load_image(image, max_side=engine.settings.image_max_side)
    return run_turns(engine, prepared, settings, args.turns, args.repeat)


def _load_average() -> list[float] | None:
    """The machine's load while it measured (1, 5, 15 minutes): figures from a loaded machine say so."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _prompt_line(placement: str, reason: str, judge_choices: tuple[str, str] | None) -> str:
    told = "no format instruction" if placement == "none" else f"format instruction in the {placement}"
    judged = f"judge answers {judge_choices[0]!r}/{judge_choices[1]!r}" if judge_choices else "no judge labels"
    return f"prompt: {told} ({reason}); {judged}"
