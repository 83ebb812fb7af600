"""`stagelens make-test-model`: registered through `stagelens.cli.EXTRA_COMMANDS` when this package is installed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    from stagelens_dev.testmodels import PRESETS

    make = subparsers.add_parser("make-test-model", help="write a random-weight test model (text GGUF + mmproj)")
    make.add_argument("--preset", choices=PRESETS, default="tiny")
    make.add_argument("--out", type=Path, required=True, help="output directory")
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from stagelens_dev.testmodels import make_test_model

    files = make_test_model(args.preset, args.out, seed=args.seed)
    print(f"text model: {files.text}")
    print(f"mmproj:     {files.mmproj}")
    return 0
