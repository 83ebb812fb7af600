"""Training batches: answer examples, judge examples and per-patch targets for the vision probe.

An *answer* example is the chat prompt around the image and the whole assistant turn, with the
loss on the assistant turn. A *judge* example is the prompt, the right stages before the judged
one (with the loss on them too), then the judge prompt with a right and a wrong candidate, with
the loss on the one token the engine reads (the choice of the right candidate).
Every image also gets per-patch targets (``patch_targets``) for the training-only probe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from stagelens_dev.tokenizer import Vocab
from stagelens_dev.training.judge import judge_example
from stagelens_dev.training.prompts import (
    USER_PREFIX,
    judge_choices,
    judge_pieces,
    prompt_suffix,
    stage_pieces,
    target_pieces,
)
from stagelens_dev.training.questions import QUESTION_KINDS, Item, random_example
from stagelens_dev.training.scenes import COLORS, IMAGE_SIZE, KINDS, SIZES, Scene, render

IGNORE = -100
N_CENTRE_CLASSES = 1 + len(SIZES) * len(COLORS) * len(KINDS)
N_COVER_CLASSES = 1 + len(COLORS) * len(KINDS)
NO_VERDICT = -1
COVER_MIN_FRACTION = 0.25  # a patch is "covered" by a shape holding at least this share of its pixels


@dataclass(frozen=True)
class Encoded:
    """One example's token ids after the image and, per id: answer-loss flag (its stage number, 0: none),
    judge-loss flag (1: the judge's choice), verdict (judge candidates: 1 right so far, 0 not; else -1)."""

    ids: list[int]
    answer_flags: list[int]
    judge_flags: list[int]
    verdicts: list[int]


@dataclass
class Batch:
    prefix: torch.Tensor  # (B, n) token ids before the image
    pixels: torch.Tensor  # (B, 3, H, W) in [0, 1]
    rest: torch.Tensor  # (B, T) token ids after the image
    labels: torch.Tensor  # (B, n + n_patches + T): next token for the answer loss, or IGNORE
    judge_labels: torch.Tensor  # same shape: the right choice token at the judge's position, or IGNORE
    label_stage: torch.Tensor  # same shape: the stage number (1-4) of each answer label, 0 elsewhere
    verdicts: torch.Tensor  # same shape: at judge candidates' tokens, 1 if the candidate is right so far, else 0
    centre: torch.Tensor  # (B, n_patches) probe targets
    cover: torch.Tensor  # (B, n_patches)


def _shape_index(color: str, kind: str) -> int:
    return list(COLORS).index(color) * len(KINDS) + KINDS.index(kind)


def patch_targets(scene: Scene, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patch (raster order): the class of the shape centred in it (0: none; else size, colour, kind)
    and of the shape covering most of it (0: none; else colour, kind)."""
    side = IMAGE_SIZE // patch_size
    centre = np.zeros(side * side, dtype=np.int64)
    for s in scene.shapes:
        size_index = list(SIZES).index(s.size)
        centre[(s.cy // patch_size) * side + s.cx // patch_size] = (
            1 + size_index * len(COLORS) * len(KINDS) + _shape_index(s.color, s.kind)
        )
    mask = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    draw = ImageDraw.Draw(mask)
    for s in scene.shapes:  # the same geometry as scenes.render
        label, r = 1 + _shape_index(s.color, s.kind), s.radius
        if s.kind == "circle":
            draw.ellipse((s.cx - r, s.cy - r, s.cx + r, s.cy + r), fill=label)
        elif s.kind == "square":
            q = round(r * 0.9)
            draw.rectangle((s.cx - q, s.cy - q, s.cx + q, s.cy + q), fill=label)
        else:
            draw.polygon([(s.cx, s.cy - r), (s.cx - r, s.cy + r), (s.cx + r, s.cy + r)], fill=label)
    labels = np.asarray(mask, dtype=np.int64).reshape(side, patch_size, side, patch_size).transpose(0, 2, 1, 3)
    labels = labels.reshape(side * side, patch_size * patch_size)
    counts = np.stack([(labels == k).sum(1) for k in range(N_COVER_CLASSES)], axis=1)
    counts[:, 0] = 0
    best = counts.argmax(1)
    cover = np.where(counts.max(1) >= COVER_MIN_FRACTION * patch_size * patch_size, best, 0)
    return centre, cover


def _stage_tokens(tok: Vocab, item: Item, stages: range) -> tuple[list[int], list[int]]:
    """Token ids of these stages as the engine writes them, and each token's stage number (1-4)."""
    ids: list[int] = []
    flags: list[int] = []
    for index in stages:
        for piece in stage_pieces(index, item.stages[index]):
            encoded = tok.encode(piece)
            ids += encoded
            flags += [index + 1] * len(encoded)
    return ids, flags


def encode_answer(tok: Vocab, item: Item) -> Encoded:
    """An answer example: the loss on the assistant turn (each flag is its token's stage number)."""
    prompt = tok.encode(prompt_suffix(item.question))
    answer, flags = _stage_tokens(tok, item, range(len(item.stages)))
    end = tok.encode(target_pieces(item)[-1])
    ids = prompt + answer + end
    flags = [0] * len(prompt) + flags + [len(item.stages)] * len(end)
    return Encoded(ids, flags, [0] * len(ids), [NO_VERDICT] * len(ids))


def _verdicts(candidate: list[int], right: list[int]) -> list[int]:
    """Per candidate token: 1 while the candidate's tokens so far are the right candidate's, then 0."""
    out, still = [], True
    for i, token in enumerate(candidate):
        still = still and i < len(right) and right[i] == token
        out.append(int(still))
    return out


def encode_judge(
    tok: Vocab, item: Item, stage: int, first: str, second: str, first_is_right: bool, read_right: bool = False
) -> Encoded:
    """A judge example: the choice token of the right candidate is the judge target (the flagged last id).
    With ``read_right``, the right candidate's tokens inside the judge prompt get the answer loss too
    (the model learns to read a caption against the image there as it writes one). Every candidate token
    gets a verdict: is the candidate still right up to here?"""
    prompt = tok.encode(prompt_suffix(item.question))
    before, before_flags = _stage_tokens(tok, item, range(stage))
    head, a, mid, b, tail = (tok.encode(piece) for piece in judge_pieces(stage, first, second))
    choice_a, choice_b = (tok.encode(c)[0] for c in judge_choices())
    ids = prompt + before + head + a + mid + b + tail + [choice_a if first_is_right else choice_b]
    read_a, read_b = (read_right and first_is_right), (read_right and not first_is_right)
    answer_flags = (
        [0] * len(prompt)
        + before_flags
        + [0] * len(head)
        + [(stage + 1) * read_a] * len(a)
        + [0] * len(mid)
        + [(stage + 1) * read_b] * len(b)
        + [0] * (len(tail) + 1)
    )
    judge_flags = [0] * (len(ids) - 1) + [1]
    right = a if first_is_right else b
    verdicts = (
        [NO_VERDICT] * (len(prompt) + len(before) + len(head))
        + _verdicts(a, right)
        + [NO_VERDICT] * len(mid)
        + _verdicts(b, right)
        + [NO_VERDICT] * (len(tail) + 1)
    )
    return Encoded(ids, answer_flags, judge_flags, verdicts)


def pixels_of(images: list[Image.Image]) -> torch.Tensor:
    """PIL RGB images -> (B, 3, H, W) float tensor in [0, 1]."""
    arr = np.stack([np.asarray(img, dtype=np.float32) for img in images]) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def collate(tok: Vocab, rows: list[tuple[Scene, Encoded]], patch_size: int) -> Batch:
    size = len(rows)
    n_patches = (IMAGE_SIZE // patch_size) ** 2
    prefix_ids = tok.encode(USER_PREFIX)
    width = max(len(e.ids) for _, e in rows)
    rest = torch.full((size, width), tok.id_of("<|endoftext|>"), dtype=torch.long)
    n_before = len(prefix_ids) + n_patches
    labels = torch.full((size, n_before + width), IGNORE, dtype=torch.long)
    judge_labels = labels.clone()
    label_stage = torch.zeros_like(labels)
    verdicts = labels.clone()
    for row, (_, e) in enumerate(rows):
        rest[row, : len(e.ids)] = torch.tensor(e.ids)
        for j, token in enumerate(e.ids):
            if e.answer_flags[j]:
                labels[row, n_before + j - 1] = token  # predicted from the position before it
                label_stage[row, n_before + j - 1] = e.answer_flags[j]
            if e.judge_flags[j]:
                judge_labels[row, n_before + j - 1] = token
            if e.verdicts[j] != NO_VERDICT:
                verdicts[row, n_before + j] = e.verdicts[j]  # read off the token's own position
    targets = [patch_targets(scene, patch_size) for scene, _ in rows]
    return Batch(
        prefix=torch.tensor([prefix_ids] * size, dtype=torch.long),
        pixels=pixels_of([render(scene) for scene, _ in rows]),
        rest=rest,
        labels=labels,
        judge_labels=judge_labels,
        label_stage=label_stage,
        verdicts=verdicts,
        centre=torch.from_numpy(np.stack([c for c, _ in targets])),
        cover=torch.from_numpy(np.stack([c for _, c in targets])),
    )


def answer_batch(tok: Vocab, rng: random.Random, size: int, patch_size: int) -> Batch:
    examples = [random_example(rng, rng.choice(QUESTION_KINDS)) for _ in range(size)]
    return collate(tok, [(scene, encode_answer(tok, item)) for scene, item in examples], patch_size)


def judge_batch(
    tok: Vocab, rng: random.Random, size: int, patch_size: int, easy_fraction: float = 0.0, read_right: bool = False
) -> Batch:
    rows = []
    while len(rows) < size:
        scene, item = random_example(rng, rng.choice(QUESTION_KINDS))
        example = judge_example(scene, item, rng, easy_fraction)
        if example is not None:
            first, second, right_first = example.first, example.second, example.first_is_right
            rows.append((scene, encode_judge(tok, item, example.stage, first, second, right_first, read_right)))
    return collate(tok, rows, patch_size)


def probe_batch(rng: random.Random, size: int, patch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images and probe targets only (the vision warm-up)."""
    from stagelens_dev.training.scenes import random_scene

    scenes = [random_scene(rng) for _ in range(size)]
    targets = [patch_targets(s, patch_size) for s in scenes]
    centre = torch.from_numpy(np.stack([c for c, _ in targets]))
    cover = torch.from_numpy(np.stack([c for _, c in targets]))
    return pixels_of([render(s) for s in scenes]), centre, cover
