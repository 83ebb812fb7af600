"""The GPU check's results as the README table: `python -m stagelens_dev.gpu.summary OUT_DIR`.

Reads what gpu_check.sh wrote (bench JSON, models gpu JSON, parity JSON, VRAM samples) and prints
Markdown. Every number comes from those files; a missing file prints as "not measured"."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _load(folder: Path, name: str) -> dict | list | None:
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _vram_mib(folder: Path) -> tuple[int, int] | None:
    """(peak used, baseline used) in MiB from nvidia-smi samples."""
    try:
        rows = [line.split(",") for line in (folder / "vram.csv").read_text().splitlines() if line.strip()]
        used = [int(r[0]) for r in rows]
    except (OSError, ValueError, IndexError):
        return None
    return (max(used), used[0]) if used else None


def bench_table(bench: dict) -> list[str]:
    lines = [
        "| mode | beam | scorer | wall s | × greedy | decode tok / wall s | image encodes | batched vs reference |",
        "|---|--:|---|--:|--:|--:|--:|--:|",
    ]
    for row in bench["rows"]:
        speedup = f"{row['batched_speedup']:.2f}×" if row.get("batched_speedup") else ""
        lines.append(
            f"| {row['mode']} | {row['beam']} | {row['scorer']} | {row['wall_s']:.3f} | {row['vs_greedy']:.2f} | "
            f"{row['decode_tokens'] / row['wall_s']:.1f} | {row['image_encodes']} | {speedup} |"
        )
    return lines


def summarize(folder: Path) -> str:
    out = ["# GPU check results", ""]
    gpu = _load(folder, "models_gpu.json")
    if isinstance(gpu, dict):
        gpus = [d for d in gpu.get("devices", []) if d.get("type") in ("gpu", "igpu")]
        names = ", ".join(f"{d['description'] or d['name']} ({d['backend']})" for d in gpus) or "none"
        out += [f"- devices: {names}", f"- 'auto' plan: {gpu.get('auto_gpu_layers')} layers ({gpu.get('reason')})"]
    auto = _load(folder, "bench_auto.json")
    if isinstance(auto, dict):
        out.append(f"- loaded with the 'auto' plan and answered: backend {auto.get('backend')}")
    vram = _vram_mib(folder)
    if vram:
        out.append(f"- VRAM: peak {vram[0]} MiB used during the bench ({vram[0] - vram[1]} MiB above the first sample)")
    parity = _load(folder, "parity.json")
    if isinstance(parity, list):
        for p in parity:
            out.append(
                f"- parity {p['model']}: tokens equal {p.get('tokens_equal')}, max logit difference "
                f"{p.get('max_logit_diff')} (tolerance {p.get('tolerance')}), "
                f"first difference {p.get('first_difference')}"
            )
    tests = folder / "engine_tests.txt"
    if tests.exists():
        last = [line for line in tests.read_text().splitlines() if line.strip()][-1:]
        out.append(f"- engine tests with every layer offloaded: {last[0] if last else 'no output'}")
    for name, title in (("bench_logprob.json", "logprob"), ("bench_judge.json", "judge")):
        bench = _load(folder, name)
        out += ["", f"## bench, {title} scorer", ""]
        out += bench_table(bench) if isinstance(bench, dict) else ["not measured"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m stagelens_dev.gpu.summary OUT_DIR", file=sys.stderr)
        return 2
    print(summarize(Path(args[0])), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
