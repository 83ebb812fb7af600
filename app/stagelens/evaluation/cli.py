"""`stagelens eval`: accuracy (with intervals and paired differences against greedy), tokens and time
of decoding methods on a JSONL dataset, per question kind and per stage where the dataset allows."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_ENGINE = 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="compare greedy, best-of-N and stage-beam on a JSONL dataset",
        description="Evaluate decoding methods on a JSONL dataset; lines: "
        '{"image": path relative to the file, "question": ..., "answer": ..., "choices": [...] optional}.',
    )
    p.add_argument("--dataset", type=Path, required=True, help="JSONL file of items")
    p.add_argument("--model", "-m", help="text model GGUF (default: the demo model)")
    p.add_argument("--mmproj", help="vision projector GGUF (default: the demo model's)")
    p.add_argument(
        "--methods",
        default="greedy,bestofn:4,beam:4:logprob,beam:4:judge",
        help="comma-separated: greedy, bestofn:N, beam:N[:logprob|judge]",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N items")
    p.add_argument("--out", type=Path, default=None, help="write one JSON line per item and method (traces)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (best-of-N uses seed..seed+N-1)")
    p.add_argument("--temperature", type=float, default=0.6, help="sampling temperature of best-of-N and beams")
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--max-stage-tokens", type=int, default=160, help="token budget of each stage")
    p.add_argument("--no-force-stages", action="store_true", help="let the model write the stage tags itself")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: engine default)")
    p.add_argument("--n-ctx", type=int, default=4096, help="context size in tokens")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run_command=run)


def _error(message: str) -> int:
    print(f"stagelens: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _model_paths(args: argparse.Namespace) -> tuple[str, str]:
    if args.model or args.mmproj:
        if not (args.model and args.mmproj):
            raise ValueError("pass both --model and --mmproj, or neither (to use the demo model)")
        return args.model, args.mmproj
    from stagelens.models.default import default_model

    choice = default_model(allow_test_model=False)
    if choice is None:
        raise ValueError("the demo model is not installed: pass --model TEXT.gguf --mmproj MMPROJ.gguf")
    return str(choice.text), str(choice.mmproj)


def run(args: argparse.Namespace) -> int:
    from stagelens.engine import Engine, EngineError, LoadSettings, SearchSettings
    from stagelens.evaluation.evaluate import (
        DatasetError,
        MethodError,
        evaluate,
        load_dataset,
        parse_methods,
        trace_record,
    )
    from stagelens.evaluation.report import build_report, format_report

    if args.limit is not None and args.limit < 1:
        return _error("--limit must be at least 1")
    try:
        methods = parse_methods(args.methods)
        items = load_dataset(args.dataset, args.limit)
        model, mmproj = _model_paths(args)
        base = SearchSettings(
            beam=1,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            max_stage_tokens=args.max_stage_tokens,
            force_stages=not args.no_force_stages,
        )
    except (DatasetError, MethodError, ValueError) as exc:
        return _error(str(exc))
    max_beam = max(8, *(m.n for m in methods))
    try:
        engine = Engine(
            LoadSettings(model=model, mmproj=mmproj, n_ctx=args.n_ctx, n_threads=args.threads, max_beam=max_beam)
        )
    except EngineError as exc:
        return _error(f"could not load the model: {exc}")

    out_file = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115 - closed below
    done = 0

    def on_result(method, item, result) -> None:
        nonlocal done
        done += 1
        if out_file:
            out_file.write(json.dumps(trace_record(method, item, result)) + "\n")
        if not args.quiet:
            mark = "ok " if result.correct else "bad"
            print(
                f"[{method.name}] {result.index + 1}/{len(items)} {mark} {result.prediction!r} "
                f"(expected {item.answer!r})",
                file=sys.stderr,
                flush=True,
            )

    try:
        runs = evaluate(engine, items, methods, base, on_result)
    except EngineError as exc:
        print(f"stagelens: engine error: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    finally:
        if out_file:
            out_file.close()
        engine.close()
    report = build_report(items, runs, seed=args.seed)
    if args.json:
        summary = {"dataset": str(args.dataset), "model": model, "mmproj": mmproj, "settings": base.to_json()}
        print(json.dumps({**summary, "baseline": report.baseline, "results": report.to_json()["methods"]}, indent=2))
    else:
        print(format_report(report))
    return 0
