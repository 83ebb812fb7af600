"""The conversation as segments the native engine holds, each with a key.

`answer` describes the whole conversation (history + the new turn) as segments; the native side
tells how many leading segments it already holds with the same keys, and only the rest are made
(tokenized, images preprocessed) and handed over. Keys identify a segment's content:

- a user turn: "U" + SHA-256 of its text (as rendered for its place) and its images' digests;
- an answer given as the model's ids: "T" + the int32 ids themselves, the key the native side
  gives an answer it produced (ids are their own exact identity, so no digest is needed);
- an answer known only as text: "A" + SHA-256 of the text.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stagelens.engine import native
from stagelens.engine.rendering import TurnRenderer, TurnText
from stagelens.engine.turns import PastTurn, UserTurn
from stagelens.images import PreparedImage

Units = list  # list[int | native.ImageChunk]

_SAMPLE = 8 << 20  # bytes read from each end of a large model file for its key


@dataclass(frozen=True)
class Segment:
    key: bytes
    build: Callable[[], Units]  # its units, made only when the native side lacks the segment


def utf8(text: str) -> bytes:
    """Text as the native side takes it (a lone surrogate from a clipboard becomes U+FFFD)."""
    return text.encode("utf-8", "replace")


def user_key(turn_text: TurnText, images: Sequence[PreparedImage]) -> bytes:
    h = hashlib.sha256(b"user\0" + bytes([turn_text.add_special]) + utf8(turn_text.text))
    for img in images:
        h.update(b"\0image\0" + img.digest.encode("ascii"))
    return b"U" + h.digest()


def token_key(ids: Sequence[int]) -> bytes:
    return b"T" + array("i", ids).tobytes()


def text_key(text: str) -> bytes:
    return b"A" + hashlib.sha256(utf8(text)).digest()


def model_file_key(path: str | os.PathLike[str]) -> str:
    """What identifies a text model file, for deciding whether stored token ids are valid for it:
    SHA-256 of its size and its bytes (only the first and last 8 MiB of a large file: the GGUF
    header with the whole vocabulary, and the last tensors)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(size.to_bytes(8, "little"))
    with p.open("rb") as fh:
        if size <= 2 * _SAMPLE:
            h.update(fh.read())
        else:
            h.update(fh.read(_SAMPLE))
            fh.seek(size - _SAMPLE)
            h.update(fh.read(_SAMPLE))
    return h.hexdigest()


def _bitmap(img: PreparedImage) -> tuple[int, int, bytes, str]:
    """What the native side takes (it adds the image's place in the turn to the id)."""
    w, h = img.sent_size
    return (w, h, img.rgb, img.digest)


class ConversationBuilder:
    """Describes a conversation as segments and hands the native side the ones it lacks."""

    def __init__(self, engine: native.NativeEngine, renderer: TurnRenderer, model_key: str, n_vocab: int) -> None:
        self._native = engine
        self._renderer = renderer
        self._model_key = model_key
        self._n_vocab = n_vocab

    def user_segment(self, turn: UserTurn, first: bool, instruction: str | None = None) -> Segment:
        """`instruction`: the format instruction, told in the conversation's first turn."""
        rendered = self._renderer.first(turn, instruction) if first else self._renderer.follow_up(turn)
        images = [_bitmap(img) for img in turn.images]

        def build() -> Units:
            return self._native.prepare(utf8(rendered.text), images, rendered.add_special)

        return Segment(user_key(rendered, turn.images), build)

    def answer_segment(self, past: PastTurn) -> Segment:
        ids = past.assistant_tokens
        if ids is not None and past.model_key == self._model_key and all(0 <= t < self._n_vocab for t in ids):
            exact = list(ids)
            return Segment(token_key(exact), lambda: exact)
        text = past.assistant_text  # another model's (or an old trace's) answer: read its text again
        return Segment(text_key(text), lambda: self._native.tokenize(utf8(text), False, False))

    def segments(self, turn: UserTurn, history: Sequence[PastTurn], instruction: str | None = None) -> list[Segment]:
        out: list[Segment] = []
        for i, past in enumerate(history):
            out.append(self.user_segment(past.user, first=i == 0, instruction=instruction))
            out.append(self.answer_segment(past))
        out.append(self.user_segment(turn, first=not history, instruction=instruction))
        return out

    def sync(self, segments: Sequence[Segment]) -> Units:
        """Make the native conversation equal `segments`; returns the units it did not hold yet."""
        keep = self._native.common_segments([s.key for s in segments])
        built = [(s.key, s.build()) for s in segments[keep:]]
        self._native.replace_segments(keep, built)
        return [unit for _key, units in built for unit in units]
