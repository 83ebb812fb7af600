"""`stagelens eval`: accuracy (with intervals and paired differences against greedy), tokens and time
of decoding methods on a JSONL dataset, per question kind and per stage where the dataset allows."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stagelens.settings import EXIT_BAD_INPUT, EXIT_ENGINE, EXIT_OK, add_arguments, from_args, max_beam_for


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="compare greedy, best-of-N and stage-beam on a JSONL dataset",
        description="Evaluate decoding methods on a JSONL dataset; lines: "
        '{"image": path relative to the file, "question": ..., "answer": ..., "choices": [...] optional}; '
        'optional "kind" and "stages" ({"caption": reference text, ...}) add per-kind and per-stage tables.',
    )
    p.add_argument("--dataset", type=Path, required=True, help="JSONL file of items")
    add_arguments(p, "eval")
    add_arguments(p.add_argument_group("verifier (methods beam:N:verifier)"), "verifier")
    p.add_argument("--out", type=Path, help="write one JSON line per item and method (traces)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
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

    try:
        methods = parse_methods(args.methods)
        items = load_dataset(args.dataset, args.limit)
        model, mmproj = _model_paths(args)
        base = from_args(SearchSettings, args, beam=1)
    except (DatasetError, MethodError, ValueError) as exc:
        return _error(str(exc))
    try:
        engine = Engine(
            LoadSettings(
                model=model,
                mmproj=mmproj,
                n_ctx=args.n_ctx,
                n_threads=args.n_threads,
                max_beam=max_beam_for(*(m.n for m in methods)),
            )
        )
    except EngineError as exc:
        return _error(f"could not load the model: {exc}")
    if any(m.scorer == "verifier" for m in methods):
        from stagelens.engine.verifier import VerifierError
        from stagelens.settings.verifier import VerifierSettings

        try:
            engine.load_verifier(from_args(VerifierSettings, args))
        except (VerifierError, ValueError) as exc:
            engine.close()
            return _error(str(exc))

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
    report = build_report(items, runs, bootstrap_seed=args.seed)
    if args.json:
        summary = {"dataset": str(args.dataset), "model": model, "mmproj": mmproj, "settings": base.to_json()}
        print(json.dumps({**summary, "baseline": report.baseline, "results": report.to_json()["methods"]}, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK
