"""The `stagelens` command: ask questions, make test models, benchmark."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from stagelens.settings import (
    EXIT_BAD_INPUT,
    EXIT_ENGINE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    LoadSettings,
    SearchSettings,
    add_arguments,
    from_args,
    max_beam_for,
)

# `ask --chat` blocks anyway: it waits longer for a history another program has locked than the window does
CLI_BUSY_TIMEOUT_S = 2.0
CLI_OPEN_WAIT_S = 10.0
CLI_SAVE_WAIT_S = 30.0


class CliError(Exception):
    """A one-line message for the user; exit code 2."""


class _Parser(argparse.ArgumentParser):
    """Bad arguments give one line and exit code 2, like every other bad input (subcommands too:
    add_subparsers makes its parsers with the class of the parser it is called on). Flags are never
    abbreviated: `--image x.png` would otherwise be read as `--image-max-side x.png`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"stagelens: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stagelens",
        description="Ask questions about images; answers are reasoned in four stages with stage-level beam search.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--self-test", action="store_true", help="open the window offscreen, answer one question, check it, exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="answer a question about one or more images")
    ask.add_argument("images", nargs="*", metavar="IMAGE", help="images (a follow-up with --chat ID may have none)")
    ask.add_argument("--question", "-q", required=True)
    ask.add_argument(
        "--chat",
        metavar="ID|new",
        help="save this question in the history: in a new conversation, or after the saved conversation ID "
        "(the model is given its earlier turns)",
    )
    add_arguments(ask.add_argument_group("model"), "load")
    add_arguments(ask.add_argument_group("search"), "search")
    add_arguments(ask.add_argument_group("verifier (--scorer verifier)"), "verifier")
    out = ask.add_mutually_exclusive_group()
    out.add_argument("--verbose", "-v", action="store_true", help="also print SUMMARY, CAPTION and REASONING")
    out.add_argument("--json", action="store_true", help="print the whole trace as JSON")

    info = sub.add_parser("info", help="show version, compute devices, loaded libraries and data folders")
    info.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="compare greedy, batched stage-beam and the reference cost model")
    add_arguments(bench, "bench")
    bench.add_argument("--image", help="image to ask about (default: a sample image)")
    bench_out = bench.add_mutually_exclusive_group()
    bench_out.add_argument("--json", action="store_true")
    bench_out.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    for module in _extra_commands().values():
        module.register(sub)
    return parser


# Subcommands added by other parts of the app: each module has
# register(subparsers) and run(args) -> int. stagelens_dev (make-test-model) is absent from the packaged app.
EXTRA_COMMANDS = ("stagelens.models.cli", "stagelens.evaluation.cli", "stagelens_dev.cli")


def _extra_commands() -> dict:
    import importlib

    found = {}
    for name in EXTRA_COMMANDS:
        try:
            found[name] = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not _is_this_or_parent(exc.name, name):
                raise
    return found


def _is_this_or_parent(missing: str | None, module: str) -> bool:
    """Whether a ModuleNotFoundError means `module` itself is absent (not one of its imports)."""
    return missing is not None and (module == missing or module.startswith(missing + "."))


def _version() -> str:
    from stagelens import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _open_window(args)
        if args.command == "ask":
            return _cmd_ask(args)
        if args.command == "info":
            return _cmd_info(args)
        if args.command == "bench":
            from stagelens.bench import run_bench_command

            return run_bench_command(args)
        runner = getattr(args, "run_command", None)
        if runner is not None:
            return runner(args)
    except CliError as exc:
        print(f"stagelens: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("stagelens: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command}")
    return EXIT_BAD_INPUT


def _open_window(args: argparse.Namespace) -> int:
    try:
        from stagelens.ui.app import run_app
    except ModuleNotFoundError as exc:
        if not _is_this_or_parent(exc.name, "stagelens.ui.app"):
            raise
        build_parser().print_help()
        return EXIT_OK
    return run_app(args)


def _cmd_info(args: argparse.Namespace) -> int:
    from stagelens.diagnostics import collect, format_info

    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return EXIT_OK


def _load_engine(args: argparse.Namespace, max_beam: int):
    from stagelens.engine import EngineError, ModelLoadError, NoVisionError, TemplateError
    from stagelens.engine.engine import Engine

    if not args.model:
        from stagelens.models.default import demo_model

        demo = demo_model()
        if demo is None:
            raise CliError(
                "no model given and the demo model is not installed: pass --model TEXT.gguf "
                "--mmproj MMPROJ.gguf (or try `stagelens make-test-model --out DIR`)"
            )
        args.model, args.mmproj = str(demo.text), str(demo.mmproj)
    if not args.mmproj:
        raise CliError(f"{Path(args.model).name} needs its vision projector: pass --mmproj MMPROJ.gguf")
    from stagelens.models.gpu import resolve_gpu_layers

    try:
        n_gpu_layers = resolve_gpu_layers(args.n_gpu_layers, args.model, args.mmproj, args.n_ctx)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    settings = LoadSettings(
        model=args.model,
        mmproj=args.mmproj,
        n_gpu_layers=n_gpu_layers,
        n_ctx=args.n_ctx,
        n_threads=args.n_threads,
        flash_attn=args.flash_attn,
        max_beam=max_beam_for(max_beam),
        image_max_side=args.image_max_side,
    )
    try:
        engine = Engine(settings)
    except (ModelLoadError, NoVisionError, TemplateError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    except EngineError as exc:
        raise CliError(f"could not start the engine: {exc}") from exc
    if args.scorer == "verifier":
        _load_verifier(engine, args)
    return engine


def _load_verifier(engine, args: argparse.Namespace) -> None:
    """The verifier model beside the engine, for --scorer verifier; a bad one is one line, exit code 2."""
    from stagelens.engine.verifier import VerifierError
    from stagelens.settings.verifier import VerifierSettings

    try:
        engine.load_verifier(from_args(VerifierSettings, args))
    except VerifierError as exc:
        engine.close()
        raise CliError(str(exc)) from exc


def _cmd_ask(args: argparse.Namespace) -> int:
    from stagelens.engine import ContextOverflowError, ImageRejectedError
    from stagelens.images import ImageLoader

    try:
        settings = from_args(SearchSettings, args)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    chat = _chat_choice(args.chat)
    if not args.images and not isinstance(chat, int):
        raise CliError("give at least one image (a follow-up in a saved conversation, --chat ID, may have none)")
    loader = ImageLoader(inline=True)
    images = [loader.from_file(path, args.image_max_side) for path in args.images]
    bad = next((image for image in images if image.error), None)
    if bad is not None:
        raise CliError(str(bad.error))
    if not args.question.strip():
        raise CliError("the question is empty")
    if settings.scorer == "verifier" and not args.verifier:
        raise CliError("--scorer verifier needs a verifier model: pass --verifier MODEL.gguf (and --verifier-mmproj)")
    if args.verifier and settings.scorer != "verifier":
        print("stagelens: --verifier is used only with --scorer verifier; it is not loaded", file=sys.stderr)

    session = _ask_session(args, chat, loader, settings.width)
    saved: list[str | None] = []
    session.answer_finished.connect(lambda _turn, _answer, save_error: saved.append(save_error))
    session.store_notice.connect(lambda notice: print(_notice_line(notice.message), file=sys.stderr))
    previous = signal.signal(signal.SIGINT, lambda *_: session.stop())
    rescue = None
    try:
        turn = session.ask(args.question, images, search=settings)
    finally:
        signal.signal(signal.SIGINT, previous)
        rescue = session.close(wait_s=CLI_SAVE_WAIT_S)
    answer = turn.answer if turn is not None else None
    trace = answer.trace if answer is not None else None
    if trace is None:
        cause = answer.cause if answer is not None else None
        if isinstance(cause, ContextOverflowError | ImageRejectedError | ValueError):
            raise CliError(str(cause)) from cause
        print(f"stagelens: engine error: {cause if cause is not None else 'no answer'}", file=sys.stderr)
        return EXIT_ENGINE

    if args.json:
        print(trace.dumps())
    elif args.verbose:
        for stage in trace.stages:
            note = f"({stage.note})\n" if stage.note else ""
            print(f"{stage.name.upper()}:\n{stage.text}\n{note}")
        _print_search(trace)
    else:
        print(trace.conclusion)
    if trace.stats.verifier_calls and not args.json:
        from stagelens.engine.verifier import cost_line

        print(cost_line(trace.stats), file=sys.stderr)
    if trace.conclusion_note and not (args.json or trace.cancelled):
        print(f"stagelens: no conclusion: {trace.conclusion_note}", file=sys.stderr)
    if chat is not None:
        if rescue is not None:
            print(
                f"stagelens: error: the history stayed locked for {CLI_SAVE_WAIT_S:.0f} s: this conversation was "
                f"not saved in it, it is kept in {rescue}",
                file=sys.stderr,
            )
            return EXIT_ENGINE
        if saved and saved[0]:
            print(f"stagelens: error: {saved[0]}", file=sys.stderr)
            return EXIT_ENGINE
        print(
            f"stagelens: saved in conversation {session.conversation.id} (--chat {session.conversation.id})",
            file=sys.stderr,
        )
    if trace.cancelled:
        print("stagelens: stopped; the answer above is partial", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print_search(trace) -> None:
    """--verbose: how the answer was searched for: retraces, best-of-N's answers, the settings."""
    from stagelens.engine.trace import SCORE_NAMES

    for r in trace.retraces:
        print(
            f"(retraced: the best {r.stage} scored {_score(r.best)}, under {_score(r.threshold)}; "
            f"{r.resampled} was sampled again)"
        )
    used = trace.settings
    score_name = SCORE_NAMES.get(used["scorer"], used["scorer"])
    for a in trace.answers:
        kept = ", kept" if a.selected else ""
        print(f"(answer {a.index + 1}: {score_name} {_score(a.score)} over {a.n_tokens} tokens{kept})")
    width = f"best-of {used['best_of']}" if used.get("best_of", 1) > 1 else f"beam {used['beam']}"
    retrace = f", {len(trace.retraces)}/{used['retrace']} retraces" if used.get("retrace") else ""
    print(f"({trace.stats.wall_s:.2f} s, {width}, {used['scorer']}{retrace}, seed {used['seed']})")


def _notice_line(message: str) -> str:
    return f"stagelens: {message[:1].lower()}{message[1:]}"


def _chat_choice(value: str | None) -> int | str | None:
    """--chat: None (nothing saved), "new", or the id of a saved conversation."""
    if value is None:
        return None
    if value.strip().lower() == "new":
        return "new"
    if not value.strip().isdigit():
        raise CliError(f"--chat takes a conversation id (a number) or new, not {value!r}")
    return int(value)


def _ask_session(args: argparse.Namespace, chat: int | str | None, loader, max_beam: int):
    """The session `ask` runs through: the engine loaded here, the history when --chat is given."""
    from stagelens.session import EngineRunner, Session
    from stagelens.settings import AppSettings

    store = None
    if chat is not None:
        from stagelens.history import HistoryStore

        store = HistoryStore(busy_timeout_s=CLI_BUSY_TIMEOUT_S, open_wait_s=CLI_OPEN_WAIT_S)
        for notice in store.notices:  # damaged and kept aside, locked: one line each
            print(_notice_line(notice.message), file=sys.stderr)
        if isinstance(chat, int) and not store.ready:
            store.close()
            raise CliError(f"the history cannot be read now, so conversation {chat} cannot be continued")
    try:
        engine = _load_engine(args, max_beam)
    except BaseException:
        if store is not None:
            store.close()
        raise
    session = Session(EngineRunner(engine), store, loader, AppSettings(), image_max_side=args.image_max_side)
    if isinstance(chat, int) and not session.open(chat):
        session.close()
        raise CliError(f"there is no saved conversation {chat} (--chat new starts one)")
    return session


if __name__ == "__main__":
    raise SystemExit(main())
