"""`stagelens make-test-model`: registered through `stagelens.cli.EXTRA_COMMANDS` when this package is installed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stagelens.settings import EXIT_OK, add_arguments


def register(subparsers: Any) -> None:
    make = subparsers.add_parser("make-test-model", help="write a random-weight test model (text GGUF + mmproj)")
    add_arguments(make, "test-model")
    make.add_argument("--out", type=Path, required=True, help="output directory")
    make.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from stagelens_dev.testmodels import make_test_model

    files = make_test_model(args.test_model_preset, args.out, seed=args.seed)
    print(f"text model: {files.text}")
    print(f"mmproj:     {files.mmproj}")
    return EXIT_OK
