"""Train the demo model on freshly generated scenes, then export it to GGUF.

    python -m stagelens_dev.training.train --out DIR --export [--seed S] [--threads T] [--resume]

Two phases, both drawing every example fresh from ``random.Random(seed)``:

1. *Vision warm-up* (``probe_steps``): the vision tower and projector learn, through a
   training-only per-patch probe (``model.PatchProbe``), which shape is centred in each patch and
   which shape covers it. Cheap (no decoder) and it gives the decoder image tokens that already say
   "a large red circle is centred here".
2. *Joint* (``steps``): answer examples (loss on the assistant turn, tokenized in the pieces the
   engine uses) and judge examples (loss on the right choice token of the engine's judge prompt),
   with the probe loss kept on.

A run is reproducible from its seed (bit-exact on the same machine, torch version and thread
count). ``DIR/checkpoint.pt`` (model, probe, optimizer and random states) is written every
``--save-every`` steps and ``--resume`` continues from it exactly; ``DIR/snapshot-STEP.pt`` keeps the
model at the ``--snapshots`` steps (for choosing the step count on a validation set).
``DIR/train_log.jsonl`` has one line per step.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stagelens_dev.tokenizer import Vocab
from stagelens_dev.training.batches import (
    IGNORE,
    N_CENTRE_CLASSES,
    N_COVER_CLASSES,
    Batch,
    answer_batch,
    judge_batch,
    probe_batch,
)
from stagelens_dev.training.model import (
    DemoModel,
    ModelConfig,
    PatchProbe,
    VerdictProbe,
    n_params,
    scaled_residual_init,
)
from stagelens_dev.training.tokenizer import demo_vocab, vocab_of

REASONING_STAGE = 3
CAPTION_STAGE = 2  # stage numbers of answer labels: 1 summary, 2 caption, 3 reasoning, 4 conclusion
CENTRE_WEIGHT = 4.0  # probe loss weight of patches that hold a shape's centre (few of them)


@dataclass(frozen=True)
class Recipe:
    """Everything a run is made from; the defaults are the shipped model's recipe."""

    config: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides (none: the shipped architecture)
    probe_steps: int = 1000  # vision warm-up steps (probe only)
    probe_batch: int = 64  # images per warm-up step
    probe_lr: float = 2e-3
    steps: int = 800  # joint steps
    batch: int = 16  # answer examples per joint step
    judge_batch: int = 6  # judge examples per joint step
    lr: float = 1.5e-3
    warmup: int = 60
    min_lr_fraction: float = 0.05
    weight_decay: float = 0.05
    probe_weight: float = 0.5
    judge_weight: float = 1.0
    # Options the shipped model was trained without (0 / False: off, and the data stream is as without them)
    position_weight: float = 0.0  # weight of the probe's column/row heads (image tokens that know their cell)
    judge_easy_fraction: float = 0.0  # share of judge examples whose wrong candidate is another scene's
    judge_read_right: bool = False  # answer loss on the right candidate inside the judge prompt too
    verdict_weight: float = 0.0  # weight of the per-token verdict probe on judge candidates
    # answer-loss weight of each stage's tokens (summary, caption, reasoning, conclusion); () = all 1
    stage_weights: tuple[float, ...] = ()
    # A second stage of training: start from this checkpoint's model, probe and tokenizer (not its
    # optimizer or schedule); "" starts from random weights.
    init_from: str = ""
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Trainer:
    model: DemoModel
    probe: PatchProbe
    verdict: VerdictProbe
    tok: Vocab
    recipe: Recipe
    opt: torch.optim.Optimizer
    rng: random.Random
    step: int = 0  # steps done, warm-up included
    cpu_s: float = 0.0  # CPU seconds spent before this process (resumed runs)
    wall_s: float = 0.0


def build(recipe: Recipe, tok: Vocab | None = None, cfg: ModelConfig | None = None) -> Trainer:
    """A fresh trainer. A given `cfg` (resuming: the checkpoint's own; its weights follow) skips reading
    `init_from`."""
    torch.manual_seed(recipe.seed)
    start: dict[str, Any] | None = None
    if recipe.init_from and cfg is None:
        if recipe.config:
            raise ValueError("init_from keeps the checkpoint's architecture: leave config empty")
        _, start_tok, start = load_checkpoint(Path(recipe.init_from))
        tok = tok or start_tok
    tok = tok or demo_vocab()
    if cfg is None:
        cfg = ModelConfig(**start["config"]) if start else ModelConfig(vocab_size=len(tok.tokens), **recipe.config)
    model = DemoModel(cfg)
    scaled_residual_init(model)
    probe = PatchProbe(cfg.n_embd, N_CENTRE_CLASSES, N_COVER_CLASSES, cfg.image_size // cfg.patch_size)
    verdict = VerdictProbe(cfg.n_embd)
    if start is not None:
        model.load_state_dict(start["state"])
        if "probe" in start:
            probe.load_state_dict(start["probe"], strict=False)  # older probes lack the position heads
            verdict.load_state_dict(start.get("verdict", verdict.state_dict()))
    params = [*model.named_parameters(), *probe.named_parameters(), *verdict.named_parameters()]
    decay = [p for _, p in params if p.dim() >= 2]
    no_decay = [p for _, p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.98),
    )
    return Trainer(model, probe, verdict, tok, recipe, opt, random.Random(recipe.seed))


def learning_rate(recipe: Recipe, step: int) -> float:
    """Warm-up phase: linear warm-up to probe_lr, then flat. Joint phase: linear warm-up, cosine decay."""
    if step < recipe.probe_steps:
        return recipe.probe_lr * min(1.0, (step + 1) / recipe.warmup)
    step -= recipe.probe_steps
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    floor = recipe.min_lr_fraction
    return recipe.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def probe_loss(
    probe: PatchProbe, tokens: torch.Tensor, centre: torch.Tensor, cover: torch.Tensor, position_weight: float = 0.0
) -> tuple[torch.Tensor, float]:
    """The probe's summed cross-entropies (the column/row heads weighted by ``position_weight``, left out
    at 0), and the share of images whose centre map is all right."""
    centre_logits, cover_logits, column_logits, row_logits = probe(tokens)
    weights = torch.ones(N_CENTRE_CLASSES)
    weights[1:] = CENTRE_WEIGHT
    loss = F.cross_entropy(centre_logits.flatten(0, 1), centre.flatten(), weight=weights)
    loss = loss + F.cross_entropy(cover_logits.flatten(0, 1), cover.flatten())
    if position_weight:
        side = column_logits.shape[-1]
        index = torch.arange(side * side)
        for logits, target in ((column_logits, index % side), (row_logits, index // side)):
            loss = loss + position_weight * F.cross_entropy(logits.flatten(0, 1), target.repeat(tokens.shape[0]))
    accuracy = (centre_logits.argmax(-1) == centre).all(-1).float().mean().item()
    return loss, accuracy


def _selected_ce(
    model: DemoModel, hidden: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, float, int]:
    """(summed cross-entropy, count, count right) over the positions with a label; with `weights` (one
    per position), the weighted sum and the sum of the weights."""
    mask = labels != IGNORE
    if not mask.any():
        return hidden.sum() * 0.0, 0, 0
    logits = model.output(hidden[mask])
    target = labels[mask]
    right = int((logits.argmax(-1) == target).sum())
    if weights is None:
        return F.cross_entropy(logits, target, reduction="sum"), int(mask.sum()), right
    w = weights[mask]
    return (F.cross_entropy(logits, target, reduction="none") * w).sum(), float(w.sum()), right


def joint_losses(tr: Trainer, batches: list[Batch]) -> tuple[torch.Tensor, dict[str, float]]:
    answer_sum, answer_n, judge_sum, judge_n, judge_right = 0.0, 0, 0.0, 0, 0
    caption_sum, caption_n, reasoning_sum, reasoning_n = 0.0, 0, 0.0, 0
    verdict_sum: torch.Tensor | float = 0.0
    verdict_n = 0
    probe_total, probe_acc = 0.0, 0.0
    for batch in batches:
        image_tokens = tr.model.vision(batch.pixels)
        loss_p, acc_p = probe_loss(tr.probe, image_tokens, batch.centre, batch.cover, tr.recipe.position_weight)
        probe_total, probe_acc = probe_total + loss_p / len(batches), probe_acc + acc_p / len(batches)
        hidden = tr.model.hidden_states(tr.model.embed_sequence(batch.prefix, image_tokens, batch.rest))
        weights = None
        if tr.recipe.stage_weights:  # stage 0 marks no label: its weight is never read
            weights = torch.tensor((0.0, *tr.recipe.stage_weights))[batch.label_stage]
        s, n, _ = _selected_ce(tr.model, hidden, batch.labels, weights)
        answer_sum, answer_n = answer_sum + s, answer_n + n
        with torch.no_grad():  # for the log: the loss on caption tokens, the ones that read the image
            caption_labels = torch.where(batch.label_stage == CAPTION_STAGE, batch.labels, IGNORE)
            s, n, _ = _selected_ce(tr.model, hidden, caption_labels)
            caption_sum, caption_n = caption_sum + float(s), caption_n + int(n)
            reasoning_labels = torch.where(batch.label_stage == REASONING_STAGE, batch.labels, IGNORE)
            s, n, _ = _selected_ce(tr.model, hidden, reasoning_labels)
            reasoning_sum, reasoning_n = reasoning_sum + float(s), reasoning_n + int(n)
        s, n, right = _selected_ce(tr.model, hidden, batch.judge_labels)
        judge_sum, judge_n, judge_right = judge_sum + s, judge_n + n, judge_right + right
        mask = batch.verdicts != IGNORE
        if tr.recipe.verdict_weight and mask.any():
            verdict_sum = verdict_sum + F.cross_entropy(tr.verdict(hidden[mask]), batch.verdicts[mask], reduction="sum")
            verdict_n += int(mask.sum())
    loss_answer = answer_sum / max(1, answer_n)
    loss_judge = judge_sum / max(1, judge_n)
    r = tr.recipe
    loss_verdict = verdict_sum / max(1, verdict_n)
    total = loss_answer + r.judge_weight * loss_judge + r.probe_weight * probe_total + r.verdict_weight * loss_verdict
    stats = {
        "loss": loss_answer.item() if isinstance(loss_answer, torch.Tensor) else loss_answer,
        "caption_loss": caption_sum / max(1, caption_n),
        "reasoning_loss": reasoning_sum / max(1, reasoning_n),
        "judge_loss": loss_judge.item() if isinstance(loss_judge, torch.Tensor) else loss_judge,
        "judge_acc": judge_right / max(1, judge_n),
        "verdict_loss": loss_verdict.item() if isinstance(loss_verdict, torch.Tensor) else loss_verdict,
        "probe_loss": probe_total.item() if isinstance(probe_total, torch.Tensor) else probe_total,
        "probe_acc": probe_acc,
    }
    return total, stats


def train_step(tr: Trainer) -> dict[str, float]:
    r = tr.recipe
    for group in tr.opt.param_groups:
        group["lr"] = learning_rate(r, tr.step)
    patch = tr.model.cfg.patch_size
    if tr.step < r.probe_steps:
        pixels, centre, cover = probe_batch(tr.rng, r.probe_batch, patch)
        loss, acc = probe_loss(tr.probe, tr.model.vision(pixels), centre, cover, r.position_weight)
        stats = {"probe_loss": loss.item(), "probe_acc": acc}
    else:
        batches = [answer_batch(tr.tok, tr.rng, r.batch, patch)]
        if r.judge_batch:
            batches.append(judge_batch(tr.tok, tr.rng, r.judge_batch, patch, r.judge_easy_fraction, r.judge_read_right))
        loss, stats = joint_losses(tr, batches)
    tr.opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in tr.opt.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    tr.opt.step()
    tr.step += 1
    return stats


# ------------------------------------------------------------------------------ checkpoints


def save_checkpoint(path: Path, tr: Trainer, full: bool = True) -> None:
    """The model (always) and, with ``full``, everything needed to resume exactly. Atomic."""
    data: dict[str, Any] = {
        "config": tr.model.cfg.to_json(),
        "state": tr.model.state_dict(),
        "tokens": list(tr.tok.tokens),
        "merges": [list(m) for m in tr.tok.merges],
        "step": tr.step,
        "recipe": tr.recipe.to_json(),
    }
    if full:
        data |= {
            "probe": tr.probe.state_dict(),
            "verdict": tr.verdict.state_dict(),
            "optimizer": tr.opt.state_dict(),
            "rng": tr.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "cpu_s": tr.cpu_s,
            "wall_s": tr.wall_s,
        }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[DemoModel, Vocab, dict[str, Any]]:
    data = torch.load(path, map_location="cpu", weights_only=False)
    model = DemoModel(ModelConfig(**data["config"]))
    model.load_state_dict(data["state"])
    return model, vocab_of(data["tokens"], [(a, b) for a, b in data["merges"]]), data


def resume(path: Path) -> Trainer:
    model, tok, data = load_checkpoint(path)
    recipe = Recipe(**data["recipe"])
    tr = build(recipe, tok, model.cfg)  # its own weights follow: init_from is not read again
    tr.model.load_state_dict(model.state_dict())
    tr.probe.load_state_dict(data["probe"])
    tr.verdict.load_state_dict(data["verdict"])
    tr.opt.load_state_dict(data["optimizer"])
    tr.rng.setstate(data["rng"])
    torch.set_rng_state(data["torch_rng"])
    tr.step, tr.cpu_s, tr.wall_s = data["step"], data["cpu_s"], data["wall_s"]
    return tr


# ------------------------------------------------------------------------------------ loop


def run(
    tr: Trainer,
    out: Path,
    save_every: int = 100,
    snapshots: tuple[int, ...] = (),
    stop_after: int | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train until the recipe's last step (or ``stop_after`` total steps); returns this run's records."""
    out.mkdir(parents=True, exist_ok=True)
    total = tr.recipe.probe_steps + tr.recipe.steps
    end = min(total, stop_after) if stop_after is not None else total
    started, cpu_started = time.perf_counter(), time.process_time()
    wall0, cpu0 = tr.wall_s, tr.cpu_s
    history: list[dict[str, Any]] = []
    if tr.step == 0:
        log(f"params {n_params(tr.model):,} recipe {json.dumps(tr.recipe.to_json())}")
    with open(out / "train_log.jsonl", "a", encoding="utf-8") as log_file:
        while tr.step < end:
            stats = train_step(tr)
            tr.wall_s = wall0 + time.perf_counter() - started
            tr.cpu_s = cpu0 + time.process_time() - cpu_started
            record = {"step": tr.step, **{k: round(v, 4) for k, v in stats.items()}}
            record |= {"lr": round(learning_rate(tr.recipe, tr.step - 1), 6)}
            record |= {"elapsed_s": round(tr.wall_s, 1), "cpu_s": round(tr.cpu_s, 1)}
            history.append(record)
            log_file.write(json.dumps(record) + "\n")
            if tr.step % 10 == 0 or tr.step == 1:
                log_file.flush()
                log(f"step {tr.step}/{total} " + " ".join(f"{k} {v}" for k, v in record.items() if k != "step"))
            if tr.step in snapshots:
                save_checkpoint(out / f"snapshot-{tr.step}.pt", tr, full=False)
            if save_every and tr.step % save_every == 0:
                save_checkpoint(out / "checkpoint.pt", tr)
    save_checkpoint(out / "checkpoint.pt", tr)
    return history


def train(out: Path, recipe: Recipe, log: Callable[[str], None] = print, **kwargs: Any):
    """Build and run a fresh trainer: (model, tokenizer, records)."""
    tr = build(recipe)
    history = run(tr, Path(out), log=log, **kwargs)
    return tr.model, tr.tok, history


def main(argv: list[str] | None = None) -> int:
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m stagelens_dev.training.train", description=doc)
    defaults = Recipe()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recipe", default="{}", help="JSON overrides of Recipe fields (config: ModelConfig)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--snapshots", default="", help="comma-separated steps at which to keep the model")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this many steps in all")
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--export", action="store_true", help="write demo-text.gguf and demo-mmproj.gguf to --out")
    parser.add_argument("--from-checkpoint", type=Path, default=None, help="skip training: export this checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed = args.seed
    if args.from_checkpoint:
        model, tok, data = load_checkpoint(args.from_checkpoint)
        seed = data["recipe"]["seed"]
    else:
        if args.resume and (args.out / "checkpoint.pt").is_file():
            tr = resume(args.out / "checkpoint.pt")
        else:
            tr = build(replace(Recipe(**json.loads(args.recipe)), seed=args.seed))
        snapshots = tuple(int(s) for s in args.snapshots.split(",") if s.strip())
        run(tr, args.out, args.save_every, snapshots, args.stop_after, log=lambda line: print(line, flush=True))
        model, tok, seed = tr.model, tr.tok, tr.recipe.seed
    if args.export:
        from stagelens_dev.training.export import export_model

        text, mmproj = export_model(model, tok, args.out, seed=seed)
        print(f"wrote {text} and {mmproj}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
