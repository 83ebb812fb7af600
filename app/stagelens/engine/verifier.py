"""The verifier scorer: a second GGUF (a process or outcome reward model, or any chat model used as a
judge) loaded beside the answering model, in its own llama context, scoring candidates.

The native side does the per-token work (sl_verifier.c): the verifier's prefix (system turn, image,
question) is read once per question and stays cached, so the image is encoded once for the verifier
too; the steps every candidate shares are read once; all candidates are decoded together, each in
its own sequence, and scored by two logits. Python renders the prompt (verifier_prompt.py) and keeps
the verifier's costs apart from the answering model's (Trace.stats.verifier_*).

- process mode: each stage's candidates are scored as the next step after the stages chosen so far;
- outcome mode: each candidate is scored as the whole answer so far, read as one piece;
- best-of-N: whole answers, as outcomes in either mode (`stage_scorer` is called with ANSWERS).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from stagelens.engine import native
from stagelens.engine.conversation import utf8
from stagelens.engine.events import ANSWERS, Scorer
from stagelens.engine.prompt import ChatTemplate, TemplateError
from stagelens.engine.trace import Stats
from stagelens.engine.turns import UserTurn
from stagelens.engine.verifier_prompt import (
    SCORE_WORDS,
    VerifierFormatError,
    VerifierPrompt,
    pick_format,
    verifier_prompt,
)
from stagelens.settings import LoadSettings, flash_attn_type
from stagelens.settings.verifier import VerifierSettings


class VerifierError(ValueError):
    """The verifier cannot be loaded or used; the message is one line for the user."""


@dataclass
class VerifierCost:
    """What the verifier spent, counted apart from the answering model."""

    calls: int = 0  # scoring calls (one per stage scored, or per set of whole answers)
    prompts: int = 0  # candidates scored
    tokens: int = 0  # tokens decoded to score them (steps shared by all candidates once)
    score_s: float = 0.0  # wall time of those decodes
    prefix_tokens: int = 0  # tokens of its prefix read (images included)
    image_encodes: int = 0  # images it encoded (once per question: the prefix stays cached)
    image_chunks: int = 0
    encode_s: float = 0.0
    prefix_s: float = 0.0  # wall time reading its prefix, images included

    def add(self, raw: dict[str, float]) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + type(getattr(self, f.name))(raw[f.name]))

    def since(self, before: VerifierCost) -> VerifierCost:
        return VerifierCost(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    def copy(self) -> VerifierCost:
        return self.since(VerifierCost())

    @property
    def seconds(self) -> float:
        return self.score_s + self.prefix_s


def record_cost(stats: Stats, cost: VerifierCost) -> None:
    """The verifier's part of an answer, into the trace's stats (apart from the model's own counts)."""
    stats.verifier_calls = cost.calls
    stats.verifier_prompts = cost.prompts
    stats.verifier_tokens = cost.tokens + cost.prefix_tokens
    stats.verifier_image_encodes = cost.image_encodes
    stats.verifier_s = round(cost.seconds, 4)
    stats.verifier_encode_s = round(cost.encode_s, 4)


def cost_line(stats: Stats) -> str:
    """The verifier's cost beside the answering model's, in one line."""
    return (
        f"verifier: {stats.verifier_prompts} candidates in {stats.verifier_calls} calls, {stats.verifier_tokens} "
        f"tokens, {stats.verifier_image_encodes} image encodes, {stats.verifier_s:.2f} s (encoding "
        f"{stats.verifier_encode_s:.2f} s); answering model: {stats.prefill_tokens + stats.decode_tokens} tokens, "
        f"{stats.image_encodes} image encodes, {stats.wall_s - stats.verifier_s:.2f} s"
    )


def _check_file(label: str, path: str | None) -> None:
    if path is not None and Path(path).is_dir():
        raise VerifierError(f"the {label} {path} is a folder, not a GGUF file")
    if path is not None and not Path(path).is_file():
        raise VerifierError(f"the {label} {path} does not exist")


class Verifier:
    """One loaded verifier model (and projector, when given), holding the prefix of one question."""

    def __init__(self, settings: VerifierSettings, load: LoadSettings, n_threads: int) -> None:
        if not settings.verifier:
            raise VerifierError("the verifier scorer needs a verifier model (--verifier MODEL.gguf)")
        _check_file("verifier model", settings.verifier)
        _check_file("verifier projector", settings.verifier_mmproj)
        self.settings = settings
        self.mode = settings.verifier_mode
        try:
            self._native = native.NativeEngine(
                settings.verifier,
                settings.verifier_mmproj,
                load.n_gpu_layers,
                load.n_ctx,
                load.n_batch,
                n_threads,
                load.max_beam + 2,  # its prefix, the shared steps, one sequence per candidate
                flash_attn_type(load.flash_attn),
            )
        except (native.ModelLoadError, native.NoVisionError) as exc:
            raise VerifierError(f"could not load the verifier: {exc}") from exc
        except native.EngineError as exc:
            raise VerifierError(f"could not start the verifier: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._native.close()
            raise
        self.cost = VerifierCost()
        self._key: bytes | None = None

    def _setup(self) -> None:
        info = self._native.info()
        name = self._native.meta("general.name") or ""
        file_name = Path(self.settings.verifier or "").name
        self.name = f"{name} ({file_name})" if name else file_name
        self.format = pick_format(self.settings.verifier_format, f"{name} {file_name}")
        bos, eos = (self._special(info[k]) for k in ("bos", "eos"))
        try:
            self.template = ChatTemplate(info["chat_template"], bos_token=bos, eos_token=eos)
        except TemplateError as exc:
            raise VerifierError(f"the verifier {self.name}: {exc}") from exc
        self.marker: str = info["media_marker"]
        self.sees_images = bool(info["has_vision"])
        self.words, (self.good, self.bad) = self._score_words()
        try:
            self.prompt(UserTurn("q", ()))
        except VerifierFormatError as exc:
            raise VerifierError(f"the verifier {self.name}: {exc}") from exc

    def _special(self, token: int) -> str:
        return "" if token < 0 else self._native.detokenize([token], True).decode("utf-8", "replace")

    def _single_token(self, text: str) -> int | None:
        ids = self._native.tokenize(utf8(text), False, False)
        return int(ids[0]) if len(ids) == 1 else None

    def _score_words(self) -> tuple[tuple[str, str], tuple[int, int]]:
        """The format's first pair of verdict words that are single tokens of the verifier's vocabulary."""
        pairs = SCORE_WORDS[self.format]
        for pair in pairs:
            good, bad = (self._single_token(w) for w in pair)
            if good is not None and bad is not None:
                return pair, (good, bad)
        told = " or ".join(f"{a!r}/{b!r}" for a, b in pairs)
        other = "judge" if self.format == "prm" else "prm"
        raise VerifierError(
            f"the verifier {self.name} cannot score in the {self.format} format: its vocabulary has no single "
            f"tokens for {told} (try --verifier-format {other})"
        )

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- prompt
    def prompt(self, turn: UserTurn) -> VerifierPrompt:
        n_images = len(turn.images) if self.sees_images else 0  # a text-only verifier reads no image
        return verifier_prompt(self.template, self.format, self.mode, turn.question, n_images, self.marker, self.words)

    def read(self, turn: UserTurn) -> list:
        """Hold this question's prefix (nothing is read yet: the first scoring call reads it, once). Returns
        the units it did not hold already (empty when the same question and images are asked again)."""
        prompt = self.prompt(turn)
        images = list(turn.images) if self.sees_images else []
        h = hashlib.sha256(bytes([prompt.add_special]) + utf8(prompt.prefix))
        for img in images:
            h.update(b"\0image\0" + img.digest.encode("ascii"))
        key = b"V" + h.digest()
        self._between = self._native.tokenize(utf8(prompt.between), False, True)
        self._tail = self._native.tokenize(utf8(prompt.tail), False, True)
        if self._native.common_segments([key]) == 1:
            return []
        bitmaps = [(img.sent_size[0], img.sent_size[1], img.rgb, img.digest) for img in images]
        units = self._native.prepare(utf8(prompt.prefix), bitmaps, prompt.add_special)
        self._native.replace_segments(0, [(key, units)])
        self._key = key
        return list(units)

    # ---------------------------------------------------------------- scores
    def score(
        self, steps: Sequence[str], candidates: Sequence[str], cancel: native.CancelFlag | None = None
    ) -> list[float]:
        """log p(good) - log p(bad) of each candidate as the step after `steps`, for the question `read`
        last. Identical candidates are scored once."""
        unique = list(dict.fromkeys(candidates))
        if not unique:
            return []
        scores, raw = self._native.verify(
            [utf8(s) for s in steps], [utf8(c) for c in unique], self._between, self._tail, self.good, self.bad, cancel
        )
        self.cost.add(raw)
        by_text = dict(zip(unique, scores, strict=True))
        return [float(by_text[c]) for c in candidates]

    def score_answers(
        self, turn: UserTurn, answers: Sequence[str], cancel: native.CancelFlag | None = None
    ) -> list[float]:
        """Outcome scores of whole answers to `turn` (best-of-N): each read as one piece."""
        self.read(turn)
        return self.score([], answers, cancel)

    def stage_scorer(self, turn: UserTurn, cancel: native.CancelFlag | None = None) -> Scorer:
        """The scorer Engine.answer calls at each stage: process mode scores each candidate as the next step
        after the stages chosen so far, outcome mode as the whole answer so far. Best-of-N's whole answers
        are scored as outcomes in either mode (each read as one piece)."""
        self.read(turn)
        chosen: list[str] = []

        def score(stage: str, candidates: list[dict]) -> list[float]:
            texts = [str(c["text"]).strip() for c in candidates]
            try:
                if stage == ANSWERS:
                    scores = self.score([], texts, cancel)
                elif self.mode == "process":
                    scores = self.score(chosen, texts, cancel)
                else:
                    scores = self.score([], ["\n\n".join([*chosen, t]) for t in texts], cancel)
            except native.EngineError:
                if cancel is not None and cancel.is_set():  # the search stops at its next step
                    return [0.0] * len(texts)
                raise
            best = max(range(len(texts)), key=lambda i: (scores[i], -i))  # the first best, as the search picks
            chosen.append(texts[best])
            return [s if math.isfinite(s) else -math.inf for s in scores]

        return score

    # ------------------------------------------------------------ for tests
    def units(self) -> list:
        """Everything the verifier's conversation holds (its prefix), as units."""
        return list(self._native._trunk_units())

    def tokenize(self, text: str, parse_special: bool) -> list[int]:
        return list(self._native.tokenize(utf8(text), False, parse_special))

    def fork_logits(self, units: list, branches: list[list[int]]) -> list[bytes]:
        """Parity reference: `units` become the verifier's conversation (forgetting the prefix held), then each
        branch is decoded after it; each branch's final float32 logits."""
        self._key = None
        return self._native.fork_logits(units, branches)

    @property
    def between_tokens(self) -> list[int]:
        return list(self._between)

    @property
    def tail_tokens(self) -> list[int]:
        return list(self._tail)
