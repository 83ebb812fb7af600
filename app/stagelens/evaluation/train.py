"""Train the demo model on freshly generated scenes, then export it to GGUF.

    python -m stagelens.evaluation.train --out DIR [--steps N] [--batch B] [--seed S] [--threads T]

Every batch is drawn from ``random.Random(seed)`` (question kind uniform, then a scene that
supports it), so a run is reproducible from its seed (bit-exact on the same machine, torch
version and thread count). The loss covers the assistant turn only: the four tagged stages,
tokenized in the pieces the engine uses (the opening tag of each stage on its own, as the engine
forces it), then ``<|im_end|>``. Writes ``DIR/checkpoint.pt`` (also every ``--save-every``
steps), ``DIR/train_log.jsonl``, and with ``--export`` ``DIR/demo-text.gguf`` + ``DIR/demo-mmproj.gguf``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stagelens.evaluation.model import DemoModel, ModelConfig, n_params, scaled_residual_init
from stagelens.evaluation.scenes import QUESTION_KINDS, STAGES, Item, random_example, render
from stagelens.evaluation.tokenizer import Tokenizer

USER_PREFIX = "<|im_start|>user\n"  # the chat template's text before the image marker
IGNORE = -100


def prompt_suffix(question: str) -> str:
    """The chat template's text between the image and the assistant's reply."""
    return f"\n{question}<|im_end|>\n<|im_start|>assistant\n"


def target_pieces(item: Item) -> list[str]:
    """The assistant turn in the pieces the engine tokenizes separately."""
    pieces = []
    for index, (tag, text) in enumerate(zip(STAGES, item.stages, strict=True)):
        pieces.append(f"<{tag}>" if index == 0 else f"\n\n<{tag}>")
        pieces.append(f"{text}</{tag}>")
    pieces.append("<|im_end|>")
    return pieces


def encode_example(tok: Tokenizer, item: Item) -> tuple[list[int], list[int]]:
    """(token ids after the image, per-token loss flags) for one example."""
    prompt = tok.encode(prompt_suffix(item.question))
    answer = [i for piece in target_pieces(item) for i in tok.encode(piece)]
    return prompt + answer, [0] * len(prompt) + [1] * len(answer)


def pixels_of(images: list) -> torch.Tensor:
    """PIL RGB images -> (B, 3, H, W) float tensor in [0, 1]."""
    arr = np.stack([np.asarray(img, dtype=np.float32) for img in images]) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


@dataclass
class Batch:
    prefix: torch.Tensor
    pixels: torch.Tensor
    rest: torch.Tensor
    labels: torch.Tensor  # for every position of [prefix, image, rest]: next token or IGNORE


def make_batch(tok: Tokenizer, rng: random.Random, size: int, n_patches: int) -> Batch:
    examples = [random_example(rng, rng.choice(QUESTION_KINDS)) for _ in range(size)]
    encoded = [encode_example(tok, item) for _, item in examples]
    width = max(len(ids) for ids, _ in encoded)
    pad = tok.id_of("<|endoftext|>")
    prefix_ids = tok.encode(USER_PREFIX)
    rest = torch.full((size, width), pad, dtype=torch.long)
    n_before = len(prefix_ids) + n_patches
    labels = torch.full((size, n_before + width), IGNORE, dtype=torch.long)
    for row, (ids, flags) in enumerate(encoded):
        rest[row, : len(ids)] = torch.tensor(ids)
        for j, (token, flag) in enumerate(zip(ids, flags, strict=True)):
            if flag:
                labels[row, n_before + j - 1] = token  # predicted from the position before it
    prefix = torch.tensor([prefix_ids] * size, dtype=torch.long)
    return Batch(prefix, pixels_of([render(scene) for scene, _ in examples]), rest, labels)


def loss_of(model: DemoModel, batch: Batch) -> torch.Tensor:
    logits = model(batch.prefix, batch.pixels, batch.rest)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.labels.reshape(-1), ignore_index=IGNORE)


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    out: Path,
    cfg_overrides: dict | None = None,
    steps: int = 500,
    batch_size: int = 24,
    lr: float = 2e-3,
    warmup: int = 60,
    seed: int = 0,
    threads: int = 2,
    save_every: int = 100,
    log=print,
    stop_after: int | None = None,
) -> tuple[DemoModel, Tokenizer, list[dict]]:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    tok = Tokenizer.build()
    cfg = ModelConfig(vocab_size=len(tok.tokens), **(cfg_overrides or {}))
    model = DemoModel(cfg)
    scaled_residual_init(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98)
    )
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    log(f"params {n_params(model):,} config {json.dumps(cfg.to_json())}")
    with open(out / "train_log.jsonl", "w", encoding="utf-8") as log_file:
        for step in range(min(steps, stop_after or steps)):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, steps, lr, warmup)
            batch = make_batch(tok, rng, batch_size, cfg.n_patches)
            loss = loss_of(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            record = {
                "step": step + 1,
                "loss": round(loss.item(), 4),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "cpu_s": round(time.process_time() - cpu_started, 1),
            }
            history.append(record)
            log_file.write(json.dumps(record) + "\n")
            if (step + 1) % 10 == 0 or step == 0:
                log_file.flush()
                log(
                    f"step {step + 1}/{steps} loss {record['loss']:.4f} elapsed {record['elapsed_s']}s "
                    f"cpu {record['cpu_s']}s"
                )
            if save_every and (step + 1) % save_every == 0:
                save_checkpoint(out / "checkpoint.pt", model, tok, step + 1, seed)
    save_checkpoint(out / "checkpoint.pt", model, tok, len(history), seed)
    return model, tok, history


def save_checkpoint(path: Path, model: DemoModel, tok: Tokenizer, step: int, seed: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "config": model.cfg.to_json(),
            "state": model.state_dict(),
            "tokens": tok.tokens,
            "merges": tok.merges,
            "step": step,
            "seed": seed,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[DemoModel, Tokenizer, dict]:
    data = torch.load(path, map_location="cpu", weights_only=False)
    model = DemoModel(ModelConfig(**data["config"]))
    model.load_state_dict(data["state"])
    return model, Tokenizer(list(data["tokens"]), [tuple(m) for m in data["merges"]]), data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagelens.evaluation.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop after this many steps (the learning-rate schedule still spans --steps)",
    )
    parser.add_argument("--config", default="{}", help="JSON overrides of ModelConfig fields")
    parser.add_argument("--export", action="store_true", help="write demo-text.gguf and demo-mmproj.gguf to --out")
    parser.add_argument("--from-checkpoint", action="store_true", help="skip training: export --out/checkpoint.pt")
    args = parser.parse_args(argv)
    if args.from_checkpoint:
        model, tok, _ = load_checkpoint(args.out / "checkpoint.pt")
    else:
        model, tok, _ = train(
            args.out,
            json.loads(args.config),
            args.steps,
            args.batch,
            args.lr,
            seed=args.seed,
            threads=args.threads,
            save_every=args.save_every,
            log=lambda line: print(line, flush=True),
            stop_after=args.stop_after,
        )
    if args.export:
        from stagelens.evaluation.export import export_model

        text, mmproj = export_model(model, tok, args.out)
        print(f"wrote {text} and {mmproj}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
