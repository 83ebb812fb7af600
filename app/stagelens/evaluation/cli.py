"""`stagelens eval`: accuracy (with intervals and paired differences against a baseline), tokens and time
of decoding methods on a dataset, per question kind and per stage where the dataset allows; resumable
(``--out``), shardable (``--shard I/N``, then ``stagelens eval merge``), with an HTML or Markdown report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stagelens.settings import EXIT_BAD_INPUT, EXIT_ENGINE, EXIT_OK, add_arguments, from_args, in_group, max_beam_for

_DESCRIPTION = (
    "Evaluate decoding methods on a dataset: StageLens's JSONL (lines "
    '{"image": path relative to the file, "question": ..., "answer": ..., "choices": [...] optional, '
    '"kind": ..., "stages": {"caption": reference text, ...}}), a VLMEvalKit TSV, or a Hugging Face '
    "datasets export (JSONL, or parquet with pyarrow). `stagelens eval merge` combines shards."
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="compare greedy, best-of-N and stage-beam on a dataset", description=_DESCRIPTION
    )
    p.add_argument("--dataset", type=Path, help="the dataset file (.jsonl, .tsv, .parquet)")
    add_arguments(p, "eval")
    add_arguments(p.add_argument_group("verifier (methods beam:N:verifier)"), "verifier")
    p.add_argument(
        "--out", type=Path, help="results file, one JSON line per item and method (traces); re-running resumes it"
    )
    _add_output_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sub = p.add_subparsers(dest="eval_command", metavar="{merge}")
    merge = sub.add_parser(
        "merge",
        help="combine the results files of one run's shards into one summary",
        description="Combine results files of `stagelens eval --shard I/N --out FILE` (one dataset, the same "
        "methods and settings) into the summary and report a single run gives.",
    )
    merge.add_argument("results", nargs="+", type=Path, metavar="RESULTS.jsonl")
    add_arguments(merge, "eval", skip=[s.name for s in in_group("eval") if s.name != "baseline"])
    _add_output_options(merge)
    merge.set_defaults(run_command=run_merge)
    p.set_defaults(run_command=run)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", type=Path, help="write a report: .html (one file) or .md (its SVG charts beside it)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


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


def _check_report_path(path: Path | None) -> None:
    from stagelens.evaluation.report_files import REPORT_SUFFIXES, ReportError

    if path is not None and path.suffix.lower() not in REPORT_SUFFIXES:
        raise ReportError(f"--report {path}: the file must end in .md (Markdown) or .html")


def _verifier_keys(args: argparse.Namespace) -> dict[str, str]:
    from stagelens.engine.conversation import model_file_key

    keys = {}
    for name in ("verifier", "verifier_mmproj"):
        path = getattr(args, name)
        if path:
            try:
                keys[name] = model_file_key(path)
            except OSError as exc:
                raise ValueError(f"cannot read the verifier: {exc}") from exc
    return keys


def run(args: argparse.Namespace) -> int:
    from stagelens.engine import Engine, EngineError, LoadSettings, SearchSettings
    from stagelens.engine.conversation import model_file_key
    from stagelens.evaluation.dataset import DatasetError, dataset_digest, load_dataset
    from stagelens.evaluation.evaluate import evaluate
    from stagelens.evaluation.methods import MethodError, parse_methods
    from stagelens.evaluation.report_files import ReportError
    from stagelens.evaluation.results import (
        ResultsError,
        ResultsWriter,
        RunKey,
        outcome_of,
        parse_shard,
        shard_indices,
    )
    from stagelens.images import ImageError

    try:
        if args.dataset is None:
            raise ValueError("--dataset is required (or combine shards: stagelens eval merge RESULTS.jsonl ...)")
        methods = parse_methods(args.methods)
        names = [m.name for m in methods]
        if args.baseline is not None and args.baseline not in names:
            raise ValueError(f"--baseline {args.baseline} is not one of the methods ({', '.join(names)})")
        _check_report_path(args.report)
        shard = parse_shard(args.shard)
        items = load_dataset(args.dataset, args.limit, args.dataset_format)
        indices = shard_indices(len(items), shard)
        model, mmproj = _model_paths(args)
        base = from_args(SearchSettings, args, beam=1)
        try:
            model_keys = {"text": model_file_key(model), "mmproj": model_file_key(mmproj)}
        except OSError as exc:
            raise ValueError(f"cannot read the model: {exc}") from exc
        file_names = {"dataset": args.dataset.name, "text": Path(model).name, "mmproj": Path(mmproj).name}
        if args.limit is not None:  # the run has the file's first items only: the report says so
            file_names["limit"] = str(args.limit)
        key_settings = base.to_json()
        if any(m.scorer == "verifier" for m in methods):
            # results scored by another verifier must not be resumed into this run
            model_keys.update(_verifier_keys(args))
            key_settings["verifier"] = {"mode": args.verifier_mode, "format": args.verifier_format}
        key = RunKey(dataset_digest(args.dataset), len(items), key_settings, model_keys, file_names)
        writer = ResultsWriter(args.out, key) if args.out else None
    except (DatasetError, MethodError, ResultsError, ReportError, ValueError) as exc:
        return _error(str(exc))
    if writer and writer.outcomes and not args.quiet:
        cut = "; a last line cut short was dropped and is run again" if writer.rewritten_cut_line else ""
        print(f"resuming {args.out}: {len(writer.done)} results already there are skipped{cut}", file=sys.stderr)
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
        if writer:
            writer.close()
        return _error(f"could not load the model: {exc}")
    if any(m.scorer == "verifier" for m in methods):
        from stagelens.engine.verifier import VerifierError
        from stagelens.settings.verifier import VerifierSettings

        try:
            engine.load_verifier(from_args(VerifierSettings, args))
        except (VerifierError, ValueError) as exc:
            engine.close()
            if writer:
                writer.close()
            return _error(str(exc))

    outcomes = list(writer.outcomes) if writer else []

    def on_result(method, item, result) -> None:
        if writer:
            writer.append(method, item, result)
        else:
            outcomes.append(outcome_of(method, item, result))
        if not args.quiet:
            mark = "ok " if result.correct else "bad"
            print(
                f"[{method.name}] {result.index + 1}/{len(items)} {mark} {result.prediction!r} "
                f"(expected {item.answer!r})",
                file=sys.stderr,
                flush=True,
            )

    try:
        evaluate(engine, items, methods, base, on_result, indices=indices, done=writer.done if writer else ())
    except EngineError as exc:
        print(f"stagelens: engine error: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    except ImageError as exc:
        return _error(str(exc))
    finally:
        if writer:
            outcomes = list(writer.outcomes)
            writer.close()
        engine.close()
    wanted = set(indices)
    outcomes = [o for o in outcomes if o.index in wanted]
    extra = {"dataset": str(args.dataset), "model": model, "mmproj": mmproj, "settings": base.to_json()}
    if shard != (1, 1):
        extra["shard"] = f"{shard[0]}/{shard[1]}"
    return _summary(args, key, outcomes, names, extra)


def run_merge(args: argparse.Namespace) -> int:
    from stagelens.evaluation.report_files import ReportError
    from stagelens.evaluation.results import ResultsError, merge_results

    try:
        _check_report_path(args.report)
        merged = merge_results(args.results)
        if args.baseline is not None and args.baseline not in merged.methods:
            raise ValueError(f"--baseline {args.baseline} is not one of the methods ({', '.join(merged.methods)})")
    except (ResultsError, ReportError, ValueError) as exc:
        return _error(str(exc))
    extra = {"merged": [str(p) for p in args.results], "settings": dict(merged.key.settings)}
    return _summary(args, merged.key, merged.outcomes, merged.methods, extra, merged.notes)


def _summary(args, key, outcomes, names: list[str], extra: dict[str, Any], notes: list[str] | None = None) -> int:
    """Print the summary (text or JSON) and write the report: the same for a run and for merged shards."""
    from stagelens.evaluation.report import format_report, summarize
    from stagelens.evaluation.report_files import ReportError, write_report

    try:
        report = summarize(outcomes, names, args.baseline, bootstrap_seed=int(key.settings.get("seed") or 0))
    except ValueError as exc:
        return _error(str(exc))
    report.notes = [*(notes or []), *report.notes]
    if args.report:
        try:
            written = write_report(args.report, report, outcomes, _facts(key, report))
        except ReportError as exc:
            return _error(str(exc))
        if not getattr(args, "quiet", False):
            print("report: " + ", ".join(str(p) for p in written), file=sys.stderr)
    if args.json:
        summary = {**extra, "baseline": report.baseline, "results": report.to_json()["methods"], "notes": report.notes}
        print(json.dumps(summary, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK


def _facts(key, report) -> dict[str, str]:
    s = key.settings
    n = report.methods[0].n_items
    items = f"first {key.items} items (--limit)" if key.names.get("limit") else f"{key.items} items"
    return {
        "dataset": f"{key.names.get('dataset', '?')} (SHA-256 {key.dataset[:12]}), {n} of its {items}",
        "model": f"{key.names.get('text', '?')} + {key.names.get('mmproj', '?')} (key {key.model['text'][:12]})",
        "settings": f"temperature {s.get('temperature')}, top-p {s.get('top_p')}, top-k {s.get('top_k')}, "
        f"seed {s.get('seed')}, {s.get('max_stage_tokens')} tokens per stage, stage forcing "
        f"{'on' if s.get('force_stages') else 'off'}",
        "baseline": report.baseline,
    }
