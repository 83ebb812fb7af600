"""What the search reports while it runs, and how native callbacks become Python events."""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stagelens.engine import native


@dataclass(frozen=True)
class StageEvent:
    kind: str  # "reading" (once, before the search) | "stage_begin" | "text" | "stage_end" | "retrace"
    stage: str  # "" for "reading"; retrace: the stage sampled again (its text and the next one's are dropped)
    # text: which candidate; stage_begin: how many; stage_end: the winner (-1: best-of-N, chosen at the end);
    # reading: images; retrace: the index of the stage whose best was poor
    candidate: int
    text: str = ""
    image_tokens: int = 0  # reading: tokens of the images the model is about to read
    text_tokens: int = 0  # reading: tokens of the text it is about to read
    at: float = field(default_factory=time.monotonic, compare=False)  # when it happened, on the engine's thread


def reading_event(units: Sequence[object]) -> StageEvent:
    """What the model is about to read (prepared units not in its cache yet): images and tokens."""
    chunks = [u for u in units if not isinstance(u, int)]
    image_tokens = sum(int(getattr(c, "n_tokens", 0)) for c in chunks)
    images = len({getattr(c, "id", id(c)) for c in chunks})  # a tiled image is several chunks of one image
    return StageEvent("reading", "", images, "", image_tokens, len(units) - len(chunks))


EventHandler = Callable[[StageEvent], None]
# (stage name or ANSWERS, candidates) -> one score each; the highest is kept
Scorer = Callable[[str, list[dict]], Sequence[float]]
ANSWERS = "answers"  # what a scorer is called with for best-of-N's whole answers
NativeEventHandler = Callable[[int, int, int, bytes | None], None]
NativeScorer = Callable[[int, list[dict]], Sequence[float]]


class EventRelay:
    """Turns native (kind, stage, cand, bytes) calls into StageEvents, decoding
    UTF-8 incrementally per candidate (a character may span two flushes)."""

    def __init__(self, stage_names: Sequence[str], handler: EventHandler) -> None:
        self._names = list(stage_names)
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
            # bytes of a character the stage never finished: as the trace has them (U+FFFD), before the end
            for (s, c), dec in sorted(self._decoders.items()):
                rest = dec.decode(b"", final=True) if s == stage else ""
                if rest:
                    self._handler(StageEvent("text", name, c, rest))
            self._handler(StageEvent("stage_end", name, cand))
        elif kind == native.EVENT_RETRACE:
            for key in [k for k in self._decoders if k[0] >= stage]:
                del self._decoders[key]
            self._handler(StageEvent("retrace", name, cand))


def native_scorer(scorer: Scorer, stage_names: Sequence[str]) -> NativeScorer:
    """The native side calls scorers with the stage's index; ours take its name. Best-of-N's whole
    answers come as stage -1: ours get ANSWERS, each answer with its stages' texts ("stages") and
    them joined by blank lines ("text")."""
    names = list(stage_names)

    def call(stage: int, candidates: list[dict]) -> Sequence[float]:
        if stage < 0:
            for answer in candidates:
                answer["text"] = "\n\n".join(t.strip() for t in answer["stages"])
            return [float(x) for x in scorer(ANSWERS, candidates)]
        return [float(x) for x in scorer(names[stage], candidates)]

    return call
