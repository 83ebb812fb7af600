"""The demo model's byte-level BPE tokenizer, learned from generated scene texts.

It is the tokenizer llama.cpp runs for ``tokenizer.ggml.model = "gpt2"`` with the ``qwen2``
pre-tokenizer: 256 byte tokens (GPT-2 ``bytes_to_unicode`` form), merges learned greedily
from a fixed corpus (generated questions and stages, plus the text the engine writes itself,
weighted), then the CONTROL tokens ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``.
``encode`` reproduces llama.cpp's tokenization for ASCII text (tests compare the two).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from stagelens_dev.training.prompts import SPECIAL_TOKENS

N_MERGES = 800  # a cap: learning stops earlier, when every corpus word is one token
CORPUS_SEED = 12345
CORPUS_ITEMS = 4000
ENGINE_TEXT_WEIGHT = 20

# llama.cpp's "qwen2" pre-tokenizer regex in Python's `re` (no \p{L}): [^\W\d_] = letter.
_PRETOKENIZE = re.compile(
    r"'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    r"|(?:[^\r\n\w]|_)?[^\W\d_]+"
    r"|\d"
    r"| ?(?:[^\s\w]|_)+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> tuple[str, ...]:
    """GPT-2's reversible byte -> printable character map, indexed by byte value."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return tuple(chars[b] for b in range(256))


def _byte_encode(text: str) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in text.encode("utf-8"))


def corpus_texts() -> list[str]:
    """The fixed corpus the merges are learned from: generated questions and targets, and the engine's
    own text (stage tags, chat pieces, judge prompt) counted ``ENGINE_TEXT_WEIGHT`` times."""
    from stagelens_dev.training.prompts import engine_corpus
    from stagelens_dev.training.questions import QUESTION_KINDS, random_example

    rng = random.Random(CORPUS_SEED)
    texts = engine_corpus() * ENGINE_TEXT_WEIGHT
    for _ in range(CORPUS_ITEMS):
        _, item = random_example(rng, rng.choice(QUESTION_KINDS))
        texts.append(item.question)
        texts.extend(item.stages)
    return texts


def learn_merges(texts: list[str], n_merges: int) -> list[tuple[str, str]]:
    """Greedy BPE: the most frequent pair first, ties to the smallest (deterministic)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for piece in _SPECIAL_SPLIT.split(text):
            if piece and piece not in SPECIAL_TOKENS:
                counts.update(_byte_encode(w) for w in _PRETOKENIZE.findall(piece))
    words = [(list(w), c) for w, c in sorted(counts.items())]
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, c in words:
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda item: (-item[1], item[0]))[0]
        merges.append(best)
        words = [(_merge(symbols, best), c) for symbols, c in words]
    return merges


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


@dataclass
class Tokenizer:
    tokens: list[str]
    merges: list[tuple[str, str]]

    def __post_init__(self) -> None:
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self._ranks = {pair: i for i, pair in enumerate(self.merges)}
        self._word_cache: dict[str, list[int]] = {}

    @classmethod
    def build(cls) -> Tokenizer:
        """The demo vocabulary (learned once per process: the corpus is fixed)."""
        tokens, merges = _learned()
        return cls(list(tokens), list(merges))

    @property
    def n_special(self) -> int:
        return len(SPECIAL_TOKENS)

    def id_of(self, token: str) -> int:
        return self._ids[token]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; the three special tokens are recognised as such."""
        ids: list[int] = []
        for piece in _SPECIAL_SPLIT.split(text):
            if not piece:
                continue
            if piece in SPECIAL_TOKENS:
                ids.append(self._ids[piece])
                continue
            for word in _PRETOKENIZE.findall(piece):
                ids.extend(self._encode_word(word))
        return ids

    def _encode_word(self, word: str) -> list[int]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        symbols = list(_byte_encode(word))
        while len(symbols) > 1:
            ranked = [(self._ranks.get(p, 1 << 30), i) for i, p in enumerate(zip(symbols, symbols[1:], strict=False))]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            symbols = _merge(symbols, (symbols[i], symbols[i + 1]))
        ids = [self._ids[s] for s in symbols]
        self._word_cache[word] = ids
        return ids

    def decode(self, ids: list[int]) -> str:
        table = {c: b for b, c in enumerate(bytes_to_unicode())}
        out = bytearray()
        for i in ids:
            token = self.tokens[i]
            if token in SPECIAL_TOKENS:
                out += token.encode()
            else:
                out += bytes(table[c] for c in token)
        return out.decode("utf-8", "replace")


@lru_cache(maxsize=1)
def _learned() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    merges = learn_merges(corpus_texts(), N_MERGES)
    tokens = list(bytes_to_unicode())
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            seen.add(a + b)
            tokens.append(a + b)
    return (*tokens, *SPECIAL_TOKENS), tuple(merges)
