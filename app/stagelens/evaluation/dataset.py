"""Write an evaluation set of generated scenes: PNG images plus a JSONL file for `stagelens eval`.

    python -m stagelens.evaluation.dataset --out models/demo --name heldout --n 200 --seed 2026

Question kinds cycle through ``QUESTION_KINDS`` so every kind gets the same share. Training
draws from ``random.Random(train seed)``; use a different seed here (the shipped held-out set
uses 2026, training 0).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from stagelens.evaluation.scenes import QUESTION_KINDS, random_example, render


def write_dataset(out_dir: Path, name: str, n: int, seed: int) -> Path:
    out_dir = Path(out_dir)
    image_dir = out_dir / name
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = []
    for index in range(n):
        kind = QUESTION_KINDS[index % len(QUESTION_KINDS)]
        scene, item = random_example(rng, kind)
        image_name = f"{index:03d}.png"
        render(scene).save(image_dir / image_name, "PNG", optimize=True)
        record: dict[str, str | list[str]] = {
            "image": f"{name}/{image_name}",
            "question": item.question,
            "answer": item.answer,
        }
        if item.choices:
            record["choices"] = list(item.choices)
        record["kind"] = item.kind
        lines.append(json.dumps(record))
    path = out_dir / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagelens.evaluation.dataset", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="heldout")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print(write_dataset(args.out, args.name, args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
