"""Python face of the native core: load a model, answer a question, keep the
conversation's prefix cached between questions."""

from __future__ import annotations

import codecs
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stagelens.engine import native
from stagelens.engine.compat import check_projector_fits
from stagelens.engine.prompt import (
    ChatTemplate,
    Message,
    TemplateError,
    stage_texts,
    user_content,
    without_marker,
)
from stagelens.engine.settings import LoadSettings, SearchSettings
from stagelens.engine.trace import Candidate, ModelInfo, Stage, Stats, Trace
from stagelens.images import PreparedImage, load_image
from stagelens.settings import int_default


@dataclass(frozen=True)
class Turn:
    """An earlier question and the model's full turn (all four stages)."""

    question: str
    images: tuple[PreparedImage, ...]
    assistant_text: str


@dataclass(frozen=True)
class StageEvent:
    kind: str  # "stage_begin" | "text" | "stage_end"
    stage: str
    candidate: int  # text: which candidate; stage_begin: how many; stage_end: the winner
    text: str = ""


EventHandler = Callable[[StageEvent], None]
Scorer = Callable[[str, list[dict]], Sequence[float]]


@dataclass
class _PrefixCache:
    text: str  # prompt + assistant turn as rendered text
    image_ids: tuple[str, ...]  # images in the order their markers appear
    units: list = field(default_factory=list)


class Engine:
    """One loaded text model + projector, with one KV cache."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        for label, path in (("model", settings.model), ("mmproj", settings.mmproj)):
            if path is not None and not Path(path).is_file():
                raise native.ModelLoadError(f"the {label} file {path} does not exist")
        if settings.mmproj is None:
            raise native.NoVisionError(
                f"{Path(settings.model).name} was given without a vision projector (mmproj); "
                "StageLens needs one to see images"
            )
        check_projector_fits(settings.model, settings.mmproj)
        self._native = native.NativeEngine(
            settings.model,
            settings.mmproj,
            n_gpu_layers=settings.n_gpu_layers,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_threads=settings.n_threads or default_threads(),
            n_seq_max=1 + settings.max_beam + settings.max_beam // 2,  # trunk, candidates, judges
        )
        self.info = self._native.info()
        bos = self._special_text(self.info["bos"])
        eos = self._special_text(self.info["eos"])
        self.template = ChatTemplate(self.info["chat_template"], bos_token=bos, eos_token=eos)
        self.marker = self.info["media_marker"]
        self._stages, self._judge = stage_texts(self.template.turn_pieces())
        self._stage_specs = [self._stage_spec(s) for s in self._stages]
        self._judge_params = self._judge_spec()
        self._cache: _PrefixCache | None = None

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        if self.settings.n_gpu_layers == 0:
            return "CPU"
        gpus = [d for d in native.devices() if d["type"] in ("gpu", "igpu")]
        return gpus[0]["backend"] if gpus else "CPU"

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            path=str(self.settings.model),
            mmproj=str(self.settings.mmproj) if self.settings.mmproj else None,
            n_params=int(self.info["n_params"]),
            backend=self.backend,
            template="fallback" if self.template.is_fallback else "gguf",
        )

    # --------------------------------------------------------------- tokens
    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._native.detokenize([token], special=True).decode("utf-8", "replace")

    def _tokens(self, text: str) -> list[int]:
        return self._native.tokenize(text, add_special=False, parse_special=True)

    def _stage_spec(self, stage) -> dict:
        return {
            "name": stage.name,
            "open_text": stage.open_text,
            "close_text": stage.close_text,
            "open_tokens": self._tokens(stage.forced_open),
            "close_tokens": self._tokens(stage.close_text),
            "judge_head": self._tokens(stage.judge_head),
        }

    def _judge_spec(self) -> dict:
        """The judge prompt's tokens; the choice tokens are -1 when this vocabulary cannot tell the
        two choices apart by their first token (only the judge scorer needs them)."""
        a = self._native.tokenize(self._judge.choice_a, add_special=False, parse_special=False)
        b = self._native.tokenize(self._judge.choice_b, add_special=False, parse_special=False)
        distinct = bool(a) and bool(b) and a[0] != b[0]
        return {
            "judge_mid": self._tokens(self._judge.mid),
            "judge_tail": self._tokens(self._judge.tail),
            "judge_choice_a": a[0] if distinct else -1,
            "judge_choice_b": b[0] if distinct else -1,
        }

    def _check_judge(self) -> None:
        if self._judge_params["judge_choice_a"] < 0:
            raise TemplateError(
                f"the judge scorer cannot be used with this model: its answers {self._judge.choice_a!r} and "
                f"{self._judge.choice_b!r} do not start with different tokens; use the logprob scorer"
            )

    # ---------------------------------------------------------------- answer
    def prepare_images(self, images: Sequence[PreparedImage | str | os.PathLike]) -> list[PreparedImage]:
        return [
            img if isinstance(img, PreparedImage) else load_image(img, max_side=self.settings.image_max_side)
            for img in images
        ]

    def render_prompt(self, history: Sequence[Turn], question: str, n_images: int) -> str:
        messages: list[Message] = []
        for turn in history:
            messages.append(Message("user", user_content(turn.question, len(turn.images), self.marker)))
            messages.append(Message("assistant", without_marker(turn.assistant_text, self.marker)))
        messages.append(Message("user", user_content(question, n_images, self.marker)))
        return self.template.render(messages, add_generation_prompt=True)

    def _prompt_units(self, text: str, images: list[PreparedImage]) -> list:
        ids = tuple(img.digest for img in images)
        cache = self._cache
        if (
            cache is not None
            and text.startswith(cache.text)
            and ids[: len(cache.image_ids)] == cache.image_ids
            and cache.text.count(self.marker) == len(cache.image_ids)
        ):
            # follow-up: exactly the cached tokens, then only the new turn
            new = images[len(cache.image_ids) :]
            delta = text[len(cache.text) :]
            return cache.units + self._native.prepare(delta, [_bitmap(i) for i in new], add_special=False)
        bos = self.template.bos_token
        add_special = not (bos and text.startswith(bos))
        return self._native.prepare(text, [_bitmap(i) for i in images], add_special=add_special)

    def answer(
        self,
        images: Sequence[PreparedImage | str | os.PathLike],
        question: str,
        history: Sequence[Turn] = (),
        settings: SearchSettings | None = None,
        on_event: EventHandler | None = None,
        cancel: native.CancelFlag | None = None,
        scorer: Scorer | None = None,
        stream_interval_ms: int = int_default("stream_interval_ms"),
    ) -> Trace:
        """Answer one question. Text events are coalesced to at most one per candidate every
        `stream_interval_ms` (0: every token)."""
        started = time.perf_counter()
        settings = (settings or SearchSettings()).with_seed()
        if settings.beam > self.settings.max_beam:
            raise ValueError(f"beam {settings.beam} is more than this engine was loaded for ({self.settings.max_beam})")
        if not question.strip():
            raise ValueError("the question is empty")
        if settings.scorer == "judge" and settings.beam > 1:
            self._check_judge()
        new_images = self.prepare_images(images)
        all_images = [img for turn in history for img in turn.images] + new_images
        text = self.render_prompt(history, question, len(new_images))
        units = self._prompt_units(text, all_images)

        params = {
            "beam": settings.beam,
            "max_stage_tokens": settings.max_stage_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "top_k": settings.top_k,
            "seed": settings.seed,
            "scorer": settings.scorer,
            "mode": settings.mode,
            "force_stages": settings.force_stages,
            "flush_ms": max(0, stream_interval_ms),
            **self._judge_params,
        }
        relay = _EventRelay([s.name for s in self._stages], on_event) if on_event else None
        py_scorer = _wrap_scorer(scorer, [s.name for s in self._stages]) if scorer else None
        if settings.scorer == "python" and scorer is None:
            raise ValueError("scorer 'python' needs a scorer callable")
        try:
            result = self._native.search(
                units, self._stage_specs, params, on_event=relay, scorer=py_scorer, cancel=cancel
            )
        except BaseException:
            self._cache = None
            self._native.reset()
            raise

        trunk = self._native.trunk_units()
        assistant_units = trunk[len(units) :]
        assistant_text = self._native.detokenize(assistant_units).decode("utf-8", "replace")
        self._cache = _PrefixCache(
            text=text + assistant_text, image_ids=tuple(i.digest for i in all_images), units=trunk
        )
        return self._trace(question, new_images, settings, result, assistant_text, started)

    def _trace(self, question, images, settings, result, assistant_text, started) -> Trace:
        stages = []
        for st in result["stages"]:
            winner = st["winner"]
            cands = [
                Candidate(
                    text=c["text"].strip(),
                    n_tokens=c["n_tokens"],
                    mean_logprob=c["mean_logprob"] if math.isfinite(c["mean_logprob"]) else None,
                    score=c["score"] if math.isfinite(c["score"]) else None,
                    selected=i == winner,
                    wall_s=round(c["wall_s"], 4),
                    closed_by=c["closed_by"],
                    tokens=c["tokens"],
                )
                for i, c in enumerate(st["candidates"])
            ]
            text = cands[winner].text if winner >= 0 else (cands[0].text if cands else "")
            stages.append(
                Stage(
                    name=st["name"],
                    text=text,
                    candidates=cands,
                    forced_open=st["forced_open"],
                    forced_close=st["forced_close"],
                    complete=winner >= 0,
                )
            )
        raw = result["stats"]
        wall = time.perf_counter() - started
        stats = Stats(
            image_encodes=raw["image_encodes"],
            prefill_tokens=raw["prefill_tokens"],
            decode_tokens=raw["decode_tokens"],
            judge_calls=raw["judge_calls"],
            wall_s=round(wall, 4),
            judge_tokens=raw["judge_tokens"],
            prompt_tokens=raw["prompt_tokens"],
            tokens_per_s=round(raw["decode_tokens"] / raw["wall_s"], 2) if raw["wall_s"] > 0 else 0.0,
        )
        conclusion = next((s.text for s in stages if s.name == "conclusion"), "")
        return Trace(
            question=question,
            images=[img.to_json() for img in images],
            settings={
                "beam": settings.beam,
                "scorer": settings.scorer,
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "seed": settings.seed,
                "max_stage_tokens": settings.max_stage_tokens,
                "top_k": settings.top_k,
                "force_stages": settings.force_stages,
                "mode": settings.mode,
            },
            stages=stages,
            conclusion=conclusion,
            cancelled=result["cancelled"],
            stats=stats,
            model=self.model_info,
            assistant_text=assistant_text,
        )

    # --------------------------------------------------------- diagnostics
    def reset_cache(self) -> None:
        self._cache = None
        self._native.reset()

    def fork_logits(self, units: list, branches: list[list[int]]) -> list[bytes]:
        self._cache = None
        return self._native.fork_logits(units, branches)

    def prompt_units(self, question: str, images: Sequence[PreparedImage]) -> list:
        """Units of a fresh single-turn prompt (for tests and tools)."""
        text = self.render_prompt((), question, len(images))
        bos = self.template.bos_token
        return self._native.prepare(text, [_bitmap(i) for i in images], add_special=not (bos and text.startswith(bos)))

    def tokenize(self, text: str) -> list[int]:
        return self._tokens(text)


def default_threads() -> int:
    """One thread per core on small machines: llama.cpp's own default is 4, which
    oversubscribes a 2-core laptop."""
    cores = os.cpu_count() or 1
    return cores if cores <= 4 else max(4, cores // 2)


def _bitmap(img: PreparedImage) -> tuple[int, int, bytes, str]:
    w, h = img.sent_size
    return (w, h, img.rgb, img.digest)


class _EventRelay:
    """Turns native (kind, stage, cand, bytes) calls into StageEvents, decoding
    UTF-8 incrementally per candidate (a character may span two flushes)."""

    def __init__(self, stage_names: list[str], handler: EventHandler) -> None:
        self._names = stage_names
        self._handler = handler
        self._decoders: dict[tuple[int, int], codecs.IncrementalDecoder] = {}

    def __call__(self, kind: int, stage: int, cand: int, data: bytes | None) -> None:
        name = self._names[stage]
        if kind == native.EVENT_STAGE_BEGIN:
            self._handler(StageEvent("stage_begin", name, cand))
        elif kind == native.EVENT_TEXT:
            dec = self._decoders.setdefault((stage, cand), codecs.getincrementaldecoder("utf-8")("replace"))
            text = dec.decode(data or b"")
            if text:
                self._handler(StageEvent("text", name, cand, text))
        elif kind == native.EVENT_STAGE_END:
            self._handler(StageEvent("stage_end", name, cand))


def _wrap_scorer(scorer: Scorer, stage_names: list[str]):
    def call(stage: int, candidates: list[dict]) -> Sequence[float]:
        return [float(x) for x in scorer(stage_names[stage], candidates)]

    return call
