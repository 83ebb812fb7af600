"""Write an evaluation set of generated scenes: PNG images plus a JSONL file for `stagelens eval`.

    python -m stagelens_dev.training.dataset --out models/demo --name heldout --n 1200 --seed 20261

Question kinds cycle through ``QUESTION_KINDS`` so every kind gets the same share. Each line has
what `stagelens eval` reads (image, question, answer, choices) plus ``kind``, the question's
``spec`` and the reference ``stages`` (summary, caption, reasoning), from which the evaluation
reports per-kind and per-stage results. Seeds: training draws from ``random.Random(train seed)``
(0 for the shipped model); the validation set (every choice) uses 777, the held-out set 20261.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from stagelens_dev.training.questions import QUESTION_KINDS, STAGES, random_example
from stagelens_dev.training.scenes import render

VALIDATION_SEED = 777
HELDOUT_SEED = 20261


def write_dataset(out_dir: Path, name: str, n: int, seed: int) -> Path:
    out_dir = Path(out_dir)
    image_dir = out_dir / name
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    digits = max(3, len(str(n - 1)))
    lines = []
    for index in range(n):
        kind = QUESTION_KINDS[index % len(QUESTION_KINDS)]
        scene, item = random_example(rng, kind)
        image_name = f"{index:0{digits}d}.png"
        render(scene).save(image_dir / image_name, "PNG", optimize=True)
        record: dict[str, object] = {"image": f"{name}/{image_name}", "question": item.question, "answer": item.answer}
        if item.choices:
            record["choices"] = list(item.choices)
        record["kind"] = item.kind
        record["spec"] = item.spec
        record["stages"] = {tag.lower(): text for tag, text in zip(STAGES[:3], item.stages[:3], strict=True)}
        lines.append(json.dumps(record))
    path = out_dir / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m stagelens_dev.training.dataset", description=doc)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="heldout")
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED)
    args = parser.parse_args(argv)
    print(write_dataset(args.out, args.name, args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
