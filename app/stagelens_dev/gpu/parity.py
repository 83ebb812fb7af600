"""Greedy tokens and logits of the CPU build, written here, compared with a GPU build there.

    python -m stagelens_dev.gpu.parity --reference .gpu/cpu_reference.json --n-gpu-layers -1 [--out FILE]

For each model (the tiny test model and the shipped demo model) and a fixed image and question, the
reference holds every stage's greedy tokens and the full logits row at each of the first stage's first
PREFIXES positions (after the prompt, then after each greedy token). The check loads the same files with
layers offloaded and reports, per model, the largest logit difference over those rows, whether the
greedy tokens are equal, and where they first differ with the reference's top-1/top-2 gap there: a
near-tie (gap within the tolerance) may flip between builds without anything being wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

QUESTION = "How many shapes are there?"
IMAGE = "scene-1.png"
PREFIXES = 24  # logits rows compared: after the prompt and after each of the first greedy tokens
BRANCHES_PER_CALL = 6  # fork_logits decodes this many prefixes side by side (the context's sequences)
# Float32 CPU kernels vs CUDA kernels (different summation order, flash attention on the GPU):
# rows of logits whose spread is ~10 may differ by about 1e-2; more than this is a real difference.
LOGIT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ModelFiles:
    name: str
    text: Path
    mmproj: Path


def _models() -> list[ModelFiles]:
    from stagelens.models.default import demo_model
    from stagelens.paths import test_models_dir
    from stagelens_dev.testmodels import make_test_model

    tiny = make_test_model("tiny", test_models_dir())
    found = [ModelFiles("tiny", Path(tiny.text), Path(tiny.mmproj))]
    demo = demo_model()
    if demo is not None:
        found.append(ModelFiles("demo", Path(demo.text), Path(demo.mmproj)))
    return found


def _run(model: ModelFiles, n_gpu_layers: int, prefix_tokens: list[int] | None = None) -> dict:
    """Greedy stages, and the logits rows after prefixes of `prefix_tokens` (default: this run's own first stage)."""
    from stagelens.engine import Engine, LoadSettings, SearchSettings, UserTurn
    from stagelens.images import load_image
    from stagelens.resources import resources_dir

    image = load_image(resources_dir() / "samples" / IMAGE)
    with Engine(LoadSettings(str(model.text), str(model.mmproj), n_gpu_layers=n_gpu_layers)) as engine:
        greedy = SearchSettings(beam=1, temperature=0.0, seed=0)
        trace = engine.answer(UserTurn(QUESTION, (image,)), settings=greedy)
        stages = {s.name: s.candidates[0].tokens for s in trace.stages}
        first = prefix_tokens if prefix_tokens is not None else stages[trace.stages[0].name]
        prefixes = [first[:i] for i in range(min(PREFIXES, len(first) + 1))]
        units = engine.prompt_units(QUESTION, [image])
        logits = []
        for start in range(0, len(prefixes), BRANCHES_PER_CALL):
            rows = engine.fork_logits(units, prefixes[start : start + BRANCHES_PER_CALL])
            logits += [array("f", row).tolist() for row in rows]
        return {"model": model.name, "backend": engine.backend, "stages": stages, "logits": logits}


def write_reference(path: Path) -> None:
    runs = [_run(m, 0) for m in _models()]
    path.write_text(json.dumps({"question": QUESTION, "image": IMAGE, "runs": runs}), encoding="utf-8")
    print(f"{path}: CPU reference for {', '.join(r['model'] for r in runs)}")


def _gap(row: list[float]) -> float:
    top = sorted(row, reverse=True)[:2]
    return top[0] - top[1]


def compare(reference: dict, n_gpu_layers: int) -> list[dict]:
    results = []
    for ref in reference["runs"]:
        model = next((m for m in _models() if m.name == ref["model"]), None)
        if model is None:
            results.append({"model": ref["model"], "ok": False, "error": "model not found here"})
            continue
        got = _run(model, n_gpu_layers, prefix_tokens=next(iter(ref["stages"].values())))
        max_diff = max(
            abs(a - b) for r, g in zip(ref["logits"], got["logits"], strict=True) for a, b in zip(r, g, strict=True)
        )
        gaps = [_gap(r) for r in ref["logits"]]
        first_difference = None
        for stage, tokens in ref["stages"].items():
            other = got["stages"].get(stage, [])
            index = next((i for i, (a, b) in enumerate(zip(tokens, other, strict=False)) if a != b), None)
            if index is None and len(tokens) != len(other):
                index = min(len(tokens), len(other))
            if index is not None:
                first = stage == next(iter(ref["stages"]))
                gap = gaps[index] if first and index < len(gaps) else None
                first_difference = {"stage": stage, "index": index, "reference_gap": gap}
                break
        near_tie = (
            first_difference is not None
            and first_difference["reference_gap"] is not None
            and first_difference["reference_gap"] <= LOGIT_TOLERANCE
        )
        results.append(
            {
                "model": ref["model"],
                "backend": got["backend"],
                "tokens_equal": first_difference is None,
                "first_difference": first_difference,
                "max_logit_diff": round(max_diff, 6),
                "smallest_reference_gap": round(min(gaps), 4),
                "logits_within_tolerance": max_diff <= LOGIT_TOLERANCE,
                "tolerance": LOGIT_TOLERANCE,
                "divergence_is_near_tie": near_tie,
                "ok": (first_difference is None or near_tie) and max_diff <= LOGIT_TOLERANCE,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagelens_dev.gpu.parity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--n-gpu-layers", type=int, default=-1)
    parser.add_argument("--write", action="store_true", help="write the reference (on the CPU) instead")
    args = parser.parse_args(argv)
    if args.write:
        write_reference(args.reference)
        return 0
    results = compare(json.loads(args.reference.read_text(encoding="utf-8")), args.n_gpu_layers)
    print(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
