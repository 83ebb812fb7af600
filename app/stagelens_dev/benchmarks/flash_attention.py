"""What CPU flash attention does to logits, on the catalog families' twins.

    python -m stagelens_dev.benchmarks.flash_attention [--out DIR] [--seeds 10] [--json]

1. *Noise*: llama.cpp alone (stagelens_dev.llama_reference), the same ids, the same context: the text
   after the image decoded in one batch vs one token per llama_decode, with flash attention on and off;
   the largest |logit difference| after the last token.
2. *Follow-ups*: on the Qwen2.5-VL twin (448 px image: 256 image tokens, 16 positions), for each seed: a
   greedy first answer and a cached greedy follow-up by the engine (40 tokens per stage), and
   llama.cpp's greedy continuation of the follow-up's prompt from the same ids (one batch); where the
   first stages part, with llama.cpp's top-2 logit gap there. Both flash-attention settings.
The numbers are for the README's "Flash attention" section; nothing here is timed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from stagelens.engine import Engine, LoadSettings, PastTurn, SearchSettings, UserTurn
from stagelens.images import PreparedImage, load_image
from stagelens_dev.llama_reference import Reference
from stagelens_dev.testmodels.twins import make_twin

QUESTION = "How many red circles are in the image?"
FOLLOW_UP = "And what color is the large square?"
N_CTX = 8192
GREEDY = SearchSettings(beam=1, temperature=0.0, max_stage_tokens=40, seed=1)


def _image(size: int, seed: int) -> PreparedImage:
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return load_image(buf.getvalue(), name=f"noise-{size}.png")


def _engine(files: Any, flash_attn: str) -> Engine:
    return Engine(LoadSettings(str(files.text), str(files.mmproj), n_ctx=N_CTX, n_threads=1, flash_attn=flash_attn))


def noise(family: str, size: int, out: Path) -> dict[str, float]:
    """Batched vs token-by-token decoding of a first prompt, per setting: of the text after the image
    only, and of every text chunk (the image chunks in between as libmtmd evaluates them)."""
    files = make_twin(family, out)
    image = _image(size, 1)
    probe = _engine(files, "off")
    rendered = probe.renderer.first(UserTurn(QUESTION, (image,)), probe.format_prompt().instruction)
    units = probe.prompt_units(QUESTION, [image])
    probe.close()
    result: dict[str, float] = {"cells": float(sum(1 if isinstance(u, int) else u.n_tokens for u in units))}
    for setting in ("on", "off"):
        ref = Reference(files.text, files.mmproj, n_ctx=N_CTX, n_batch=4096, flash_attn=setting)
        try:
            ref.prime(rendered.text, [image], rendered.add_special)
            tail = [int(u) for u in units[ref.primed_units :]]
            ref.from_image(tail)
            batched = ref.logits()
            ref.from_image(tail, step=1)
            result[f"after_image_{setting}"] = float(np.abs(batched - ref.logits()).max())
            result[f"whole_prompt_{setting}"] = _whole_prompt(ref, rendered.text, image, rendered.add_special)
        finally:
            ref.close()
    return result


def _whole_prompt(ref: Reference, text: str, image: PreparedImage, add_special: bool) -> float:
    ref.reset()
    chunks, infos = ref.tokenize(text, [image], add_special)
    try:
        ref.eval_chunks(chunks)  # mtmd_helper_eval_chunks: every text chunk in one batch
        batched = ref.logits()
        ref.reset()
        for i, info in enumerate(infos):
            if info.kind == "text":
                ref.decode(info.tokens, step=1)
            else:
                start = ref.n_past
                ref.eval_chunk(chunks, i)
                assert ref.n_past > start
        return float(np.abs(batched - ref.logits()).max())
    finally:
        ref.free_chunks(chunks)


def _divergence(ours: list[int], ref: Reference) -> tuple[int | None, float]:
    theirs, gaps = ref.greedy(len(ours))
    for k, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            return k, gaps[k]
    return None, min(gaps) if gaps else 0.0


def follow_up(seed: int, flash_attn: str, out: Path, size: int = 448) -> dict[str, Any]:
    files = make_twin("qwen2.5-vl", out / f"seed{seed}", seed=seed)
    image = _image(size, seed + 1)
    turn = UserTurn(QUESTION, (image,))
    engine = _engine(files, flash_attn)
    ref = Reference(files.text, files.mmproj, n_ctx=N_CTX, n_batch=4096, flash_attn=flash_attn)
    try:
        first = engine.answer(turn, settings=GREEDY)
        second = engine.answer(
            UserTurn(FOLLOW_UP),
            [PastTurn(turn, first.assistant_text, tuple(first.assistant_tokens), first.model.key)],
            settings=GREEDY,
        )
        trunk = engine._native._trunk_units()
        prompt = trunk[: len(trunk) - len(second.assistant_tokens)]
        rendered = engine.renderer.first(turn, engine.format_prompt().instruction)
        ref.prime(rendered.text, [image], rendered.add_special)
        tail = [u for u in prompt[ref.primed_units :] if isinstance(u, int)]
        assert len(tail) == len(prompt) - ref.primed_units, "one image, in the first turn"
        ref.from_image(tail + engine.stage_specs[0].open_tokens)
        ours = next(c for c in second.stages[0].candidates if c.selected).tokens
        (row,) = engine.fork_logits(prompt, [engine.stage_specs[0].open_tokens])
        path_difference = float(np.abs(np.frombuffer(row, np.float32) - ref.logits()).max())
        at, gap = _divergence(ours, ref)
        return {
            "seed": seed,
            "flash_attn": flash_attn,
            "tokens": len(ours),
            "first_difference": at,
            "gap": gap,  # llama.cpp's top-2 logit gap where they part (or the smallest on the way)
            "path_difference": path_difference,  # engine (cached, forked) vs llama.cpp (one batch), step 0
        }
    finally:
        engine.close()
        ref.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("flash-attention-twins"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "noise": {f"{family} {size}px": noise(family, size, args.out) for family, size in
                  (("qwen2.5-vl", 448), ("qwen3-vl", 448), ("smolvlm2", 64), ("llava-1.6", 448))},
        "follow_up": [follow_up(seed, fa, args.out) for fa in ("auto", "off") for seed in range(args.seeds)],
    }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, row in report["noise"].items():
        after = f"after the image: on {row['after_image_on']:.2e} off {row['after_image_off']:.2e}"
        whole = f"whole prompt: on {row['whole_prompt_on']:.2e} off {row['whole_prompt_off']:.2e}"
        print(f"{name:<18} {int(row['cells']):>5} cells  batched vs token-by-token, {after}; {whole}")
    for row in report["follow_up"]:
        where = "equal" if row["first_difference"] is None else f"differs at token {row['first_difference']}"
        seed, setting = row["seed"], row["flash_attn"]
        gaps = f"gap {row['gap']:.4f}, path difference {row['path_difference']:.2e}"
        print(f"qwen2.5-vl seed {seed} flash {setting:<4} {where} of {row['tokens']} ({gaps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
