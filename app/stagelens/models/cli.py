"""`stagelens models ...`: list, download, import, rm, info, gpu."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from stagelens.models.gguf_info import human_bytes
from stagelens.settings import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, add_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list, download, import and remove vision models")
    sub = parser.add_subparsers(dest="models_command", metavar="{list,download,import,rm,info,gpu}")
    p = sub.add_parser("list", help="catalog and installed models")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("download", help="download a catalog model (resumes an interrupted download)")
    p.add_argument("id")
    p.add_argument("--quant", help="quantization (default: the catalog's recommended one)")
    p.add_argument("--token", help="Hugging Face token for gated repos (default: HF_TOKEN or a saved login)")
    p.add_argument("--endpoint", help="Hub address (default: HF_ENDPOINT or https://huggingface.co)")
    p = sub.add_parser("import", help="register a local text GGUF and its vision projector")
    p.add_argument("text", metavar="TEXT.gguf")
    p.add_argument(
        "mmproj", metavar="MMPROJ.gguf", nargs="?", help="the projector (default: the matching one in the same folder)"
    )
    p.add_argument("--copy", action="store_true", help="copy the files into the models folder")
    p.add_argument("--name", help="name to show")
    p = sub.add_parser("rm", help="remove an installed model (downloaded files are deleted)")
    p.add_argument("id")
    p.add_argument("--keep-files", action="store_true")
    p = sub.add_parser("info", help="what a GGUF file says about itself")
    p.add_argument("file", metavar="FILE.gguf")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("gpu", help="llama.cpp backend, devices, and GPU layers for a model")
    add_arguments(p, "gpu")
    p.add_argument("--json", action="store_true")
    parser.set_defaults(run_command=run, models_parser=parser)


def run(args: argparse.Namespace) -> int:
    from stagelens.models.catalog import CatalogError
    from stagelens.models.download_errors import DownloadError
    from stagelens.models.gguf_info import ModelFileError
    from stagelens.models.registry import RegistryError

    command = getattr(args, "models_command", None) or "list"
    if command == "list" and not hasattr(args, "json"):
        args.json = False
    handlers = {"list": _list, "download": _download, "import": _import, "rm": _rm, "info": _info, "gpu": _gpu}
    if command not in handlers:
        args.models_parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return handlers[command](args)
    except (CatalogError, DownloadError, ModelFileError, RegistryError, ValueError) as exc:
        print(f"stagelens: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _list(args) -> int:
    from stagelens.models.catalog import load_catalog
    from stagelens.models.download_files import partial_downloads
    from stagelens.models.registry import Registry

    registry = Registry()
    installed = registry.list()
    catalog = load_catalog()
    partial = partial_downloads(registry.folder)
    if args.json:
        print(
            json.dumps(
                {
                    "catalog": [
                        {
                            "id": e.id,
                            "name": e.name,
                            "repo": e.repo,
                            "quants": list(e.quants),
                            "default_quant": e.default_quant,
                            "download_bytes": e.download_size(),
                            "memory_bytes": e.memory_estimate().total_bytes,
                            "license": e.license,
                            "stage_format_trained": e.stage_format_trained,
                        }
                        for e in catalog
                    ],
                    "installed": [
                        {"id": m.id, "name": m.name, "text": m.text, "mmproj": m.mmproj, "source": m.source}
                        for m in installed
                    ],
                    "partial": [str(p) for p in partial],
                },
                indent=2,
            )
        )
        return EXIT_OK
    ids = {m.id for m in installed}
    print("Catalog (stagelens models download ID [--quant Q]):")
    for e in catalog:
        mark = "*" if e.id in ids else " "
        mem = e.memory_estimate()
        print(
            f" {mark} {e.id:<22} {e.name:<26} {human_bytes(e.download_size()):>9} download, "
            f"~{human_bytes(mem.total_bytes)} RAM at {mem.n_ctx} ctx  [{', '.join(e.quants)}]"
        )
    print(f"\nInstalled in {registry.folder}:" if installed else f"\nNothing installed yet in {registry.folder}.")
    for m in installed:
        print(f"   {m.id:<22} {m.name}  ({m.source})\n      {m.text}\n      {m.mmproj}")
    if partial:
        print("\nInterrupted downloads (run the same download again to resume):")
        for p in partial:
            print(f"   {p.parent.name}/{p.name[: -len('.part')]}: {human_bytes(p.stat().st_size)} so far")
    return EXIT_OK


def _download(args) -> int:
    from stagelens.models.download import DownloadManager

    printer = _ProgressPrinter(sys.stderr)
    manager = DownloadManager(endpoint=args.endpoint, token=args.token, on_event=printer)
    job = manager.start(args.id, args.quant)
    try:
        while not job.wait(0.2):
            pass
    except KeyboardInterrupt:
        job.pause()
        job.wait(30)
        printer.finish()
        print("stagelens: download paused; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    printer.finish()
    if job.error is not None:
        print(f"stagelens: error: {job.error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    assert job.installed is not None
    print(f"installed {job.installed.id}:\n  {job.installed.text}\n  {job.installed.mmproj}")
    return EXIT_OK


class _ProgressPrinter:
    """One status line per file, rewritten in place on a terminal, every few seconds otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.last_state = ""
        self.lock = threading.Lock()
        self.open_line = False

    def __call__(self, event) -> None:
        with self.lock:
            now = time.monotonic()
            changed = event.state != self.last_state
            if not changed and now - self.last < (0.25 if self.tty else 5.0):
                return
            self.last, self.last_state = now, event.state
            active = [f for f in event.files if f.state not in ("queued", "done")] or list(event.files)[-1:]
            line = f"{event.model_id}: {event.state}"
            if active:
                line += f" | {active[0].name}: {active[0].describe()}"
            if self.tty:
                self.stream.write("\r\x1b[2K" + line[:200])
                self.open_line = True
                if changed and event.state in ("done", "failed", "cancelled", "paused"):
                    self.stream.write("\n")
                    self.open_line = False
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        with self.lock:
            if self.open_line:
                self.stream.write("\n")
                self.open_line = False


def _import(args) -> int:
    from stagelens.models.pairing import import_local

    model = import_local(args.text, args.mmproj, copy=args.copy, name=args.name)
    print(f"imported {model.id}:\n  {model.text}\n  {model.mmproj}")
    return EXIT_OK


def _rm(args) -> int:
    from stagelens.models.registry import Registry

    model = Registry().remove(args.id, delete_files=not args.keep_files)
    kept = "files kept" if (args.keep_files or not model.owns_files) else "files deleted"
    print(f"removed {model.id} ({kept})")
    return EXIT_OK


def _info(args) -> int:
    from stagelens.models.gguf_info import describe, read_gguf_info

    info = read_gguf_info(args.file)
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
        return EXIT_OK
    for label, value in describe(info):
        print(f"{label + ':':<18}{value}")
    return EXIT_OK


def _gpu(args) -> int:
    from stagelens.models.gpu import INSTALL_HINTS, backend_info, plan_offload

    info = backend_info()
    plan = plan_offload(args.model, args.mmproj, args.n_ctx, info) if args.model else None
    if args.json:
        print(
            json.dumps(
                {
                    "backends": list(info.backends),
                    "gpu_offload": info.gpu_offload,
                    "devices": [d.__dict__ for d in info.devices],
                    "auto_gpu_layers": plan.n_gpu_layers if plan else None,
                    "reason": plan.reason if plan else None,
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"backend: {info.summary}")
    for d in info.devices:
        print(
            f"  {d.backend:<7} {d.type:<5} {d.description or d.name}: "
            f"{human_bytes(d.free)} free of {human_bytes(d.total)}"
        )
    if plan is not None:
        print(f"GPU layers 'auto' for this model: {plan.n_gpu_layers} ({plan.reason})")
    if not info.gpus:
        print("To use a GPU, reinstall llama-cpp-python with a GPU backend:")
        for name, hint in INSTALL_HINTS.items():
            print(f"  {name}: {hint}")
    return EXIT_OK
