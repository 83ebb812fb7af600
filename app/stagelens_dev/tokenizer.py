"""The one tokenizer writer: learn a vocabulary from a corpus, write it to GGUF.

Two vocabulary kinds, the two llama.cpp reads for the catalog's families:

* byte-level BPE (``tokenizer.ggml.model = "gpt2"``: Qwen, SmolLM, the test and demo models):
  optional *leading* special tokens (SmolLM puts ``<|endoftext|>`` etc. at ids 0-2), 256 byte
  tokens in GPT-2 ``bytes_to_unicode`` form, one token per learned merge, the CONTROL (special)
  tokens, USER_DEFINED tokens, then optional UNUSED padding. Merges are learned greedily and
  deterministically (the most frequent pair first, ties to the smallest pair), from text split the
  way llama.cpp's ``qwen2`` pre-tokenizer splits it. Described by a `BpeRecipe`.
* SentencePiece-style (``"llama"``: Gemma, Mistral/LLaMA-2): leading specials at fixed low ids,
  the 256 ``<0xXX>`` BYTE tokens (byte fallback), ``▁``-prefixed pieces learned the same greedy way
  with decreasing scores (llama.cpp's SPM tokenizer merges the pair whose piece scores highest),
  single characters last, then trailing specials. Described by an `SpmRecipe`.

`add_tokenizer` writes either kind.

The ``qwen2`` pre-tokenizer is used rather than ``default`` because llama.cpp enables
``clean_spaces`` for ``default``, which makes detokenization drop the space in " ?" and " ,":
with ``qwen2`` any UTF-8 text round-trips exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

import gguf

__all__ = [
    "PRE_TOKENIZER",
    "SPM_SPACE",
    "BpeRecipe",
    "SpmRecipe",
    "TokenizerMetadata",
    "Vocab",
    "add_tokenizer",
    "build_vocab",
    "byte_encode",
    "bytes_to_unicode",
    "count_words",
    "learn_merges",
    "learn_spm_vocab",
    "learn_vocab",
    "pretokenize",
]

PRE_TOKENIZER = "qwen2"
SPM_SPACE = "\u2581"  # ▁, SentencePiece's space
_CONTROL = int(gguf.TokenType.CONTROL)
_NORMAL = int(gguf.TokenType.NORMAL)
_BYTE = int(gguf.TokenType.BYTE)

# Approximates llama.cpp's "qwen2" pre-tokenizer regex with Python's `re` (no \p{L}):
# [^\W\d_] = letter, \d = digit, (?:[^\s\w]|_) = neither whitespace, letter nor digit.
_PRETOKENIZE = re.compile(
    r"'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    r"|(?:[^\r\n\w]|_)?[^\W\d_]+"
    r"|\d"
    r"| ?(?:[^\s\w]|_)+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)
_NO_RANK = 1 << 30


@cache
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


@cache
def _unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in enumerate(bytes_to_unicode())}


def byte_encode(text: str) -> str:
    """``text``'s UTF-8 bytes as token characters."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in text.encode("utf-8"))


def pretokenize(text: str) -> list[str]:
    """The words llama.cpp's ``qwen2`` pre-tokenizer splits ``text`` into (merges never cross them)."""
    return _PRETOKENIZE.findall(text)


def _special_splitter(special_tokens: Iterable[str]) -> re.Pattern[str] | None:
    tokens = sorted(set(special_tokens), key=len, reverse=True)  # longest first: no prefix wins early
    return re.compile("(" + "|".join(map(re.escape, tokens)) + ")") if tokens else None


def _pieces(text: str, splitter: re.Pattern[str] | None, special: frozenset[str]) -> Iterable[tuple[str, bool]]:
    """(piece, is_special) in order; special tokens are never split into bytes."""
    if splitter is None:
        yield text, False
        return
    for piece in splitter.split(text):
        if piece:
            yield piece, piece in special


def count_words(
    texts: Iterable[str],
    *,
    special_tokens: Iterable[str] = (),
    weight: int = 1,
    into: Counter[str] | None = None,
) -> Counter[str]:
    """Byte-encoded pre-tokenized words of ``texts``, each counted ``weight`` times (special tokens skipped)."""
    counts: Counter[str] = Counter() if into is None else into
    special = frozenset(special_tokens)
    splitter = _special_splitter(special)
    for text in texts:
        for piece, is_special in _pieces(text, splitter, special):
            if not is_special:
                for word in pretokenize(piece):
                    counts[byte_encode(word)] += weight
    return counts


def learn_merges(word_counts: Mapping[str, int], n_merges: int) -> tuple[tuple[str, str], ...]:
    """Greedy BPE training: the most frequent pair first, ties to the smallest (deterministic).

    Pair counts are updated incrementally, only in the words that contain the merged pair."""
    words = [(list(word), count) for word, count in sorted(word_counts.items())]
    pair_counts: Counter[tuple[str, str]] = Counter()
    pair_words: dict[tuple[str, str], set[int]] = {}
    for index, (symbols, count) in enumerate(words):
        for pair in zip(symbols, symbols[1:], strict=False):
            pair_counts[pair] += count
            pair_words.setdefault(pair, set()).add(index)

    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and pair_counts:
        best = min(pair_counts.items(), key=lambda item: (-item[1], item[0]))[0]
        merges.append(best)
        for index in sorted(pair_words.pop(best, ())):
            symbols, count = words[index]
            for pair in zip(symbols, symbols[1:], strict=False):
                pair_counts[pair] -= count
            merged = _merge_pair(symbols, best)
            words[index] = (merged, count)
            for pair in zip(merged, merged[1:], strict=False):
                pair_counts[pair] += count
                pair_words.setdefault(pair, set()).add(index)
        pair_counts = Counter({p: c for p, c in pair_counts.items() if c > 0})
    return tuple(merges)


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


@dataclass(frozen=True)
class Vocab:
    """A byte-level BPE vocabulary: what goes into the GGUF, and a reference encoder for tests."""

    tokens: tuple[str, ...]
    types: tuple[int, ...]  # gguf.TokenType per token
    merges: tuple[tuple[str, str], ...]
    special_tokens: tuple[str, ...]
    model: str = "gpt2"  # "gpt2": byte-level BPE; "llama": SentencePiece-style (scores, no merges)
    scores: tuple[float, ...] | None = None  # "llama" only
    _word_cache: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def _ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        for i, token in enumerate(self.tokens):
            ids.setdefault(token, i)
        return ids

    @cached_property
    def _ranks(self) -> dict[tuple[str, str], int]:
        return {pair: i for i, pair in enumerate(self.merges)}

    def id_of(self, token: str) -> int:
        return self._ids[token]

    def n_real(self) -> int:
        """Number of tokens before the UNUSED padding."""
        return sum(t != gguf.TokenType.UNUSED for t in self.types)

    def merge_strings(self) -> list[str]:
        return [f"{a} {b}" for a, b in self.merges]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, special tokens recognised (what llama.cpp gives with parse_special).
        Byte-level BPE only: SentencePiece-style vocabularies are checked against llama.cpp itself."""
        if self.model != "gpt2":
            raise NotImplementedError("the reference encoder is for byte-level BPE vocabularies")
        special = frozenset(self.special_tokens)
        ids: list[int] = []
        for piece, is_special in _pieces(text, _special_splitter(special), special):
            if is_special:
                ids.append(self._ids[piece])
            else:
                for word in pretokenize(piece):
                    ids.extend(self._encode_word(word))
        return ids

    def _encode_word(self, word: str) -> list[int]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        symbols = list(byte_encode(word))
        while len(symbols) > 1:
            rank, i = min(
                (self._ranks.get(pair, _NO_RANK), i) for i, pair in enumerate(zip(symbols, symbols[1:], strict=False))
            )
            if rank == _NO_RANK:
                break
            symbols = _merge_pair(symbols, (symbols[i], symbols[i + 1]))
        ids = [self._ids[s] for s in symbols]
        self._word_cache[word] = ids
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        table = _unicode_to_byte()
        special = frozenset(self.special_tokens)
        out = bytearray()
        for i in ids:
            token = self.tokens[i]
            out += token.encode() if token in special else bytes(table[c] for c in token)
        return out.decode("utf-8", "replace")


def build_vocab(
    merges: Iterable[tuple[str, str]],
    special_tokens: Iterable[str],
    pad_to: int | None = None,
    *,
    leading: Iterable[str] = (),
    user_defined: Iterable[str] = (),
) -> Vocab:
    """``leading`` CONTROL tokens, byte tokens, one token per merge (two merge paths can give the same
    string: kept once), the CONTROL tokens, the USER_DEFINED ones, then ``<unused_N>`` UNUSED tokens up
    to ``pad_to``."""
    merges = tuple(merges)
    special = tuple(special_tokens)
    first, users = tuple(leading), tuple(user_defined)
    tokens = [*first, *bytes_to_unicode()]
    seen = set(tokens)
    for left, right in merges:
        merged = left + right
        if merged not in seen:
            seen.add(merged)
            tokens.append(merged)
    types = [_CONTROL] * len(first) + [_NORMAL] * (len(tokens) - len(first))
    tokens += special
    types += [_CONTROL] * len(special)
    tokens += users
    types += [int(gguf.TokenType.USER_DEFINED)] * len(users)
    if pad_to is not None:
        n_pad = pad_to - len(tokens)
        if n_pad < 0:
            raise ValueError(f"vocabulary of {len(tokens)} tokens does not fit in {pad_to}")
        tokens += [f"<unused_{i}>" for i in range(n_pad)]
        types += [int(gguf.TokenType.UNUSED)] * n_pad
    return Vocab(tuple(tokens), tuple(types), merges, (*first, *special, *users))


@dataclass(frozen=True)
class BpeRecipe:
    """Everything a vocabulary is learned from; equal recipes give equal vocabularies."""

    corpus: tuple[str, ...]
    n_merges: int
    special_tokens: tuple[str, ...]
    weighted: tuple[tuple[str, int], ...] = ()  # (text, weight): counted `weight` times, to favour their merges
    pad_to: int | None = None
    leading: tuple[str, ...] = ()  # CONTROL tokens before the byte tokens (their ids start at 0)
    user_defined: tuple[str, ...] = ()  # USER_DEFINED tokens after the CONTROL ones
    required: tuple[str, ...] = ()  # texts that must be one token each (merges added left to right)


@lru_cache(maxsize=32)
def learn_vocab(recipe: BpeRecipe) -> Vocab:
    specials = (*recipe.leading, *recipe.special_tokens, *recipe.user_defined)
    counts = count_words(recipe.corpus, special_tokens=specials)
    for text, weight in recipe.weighted:
        count_words([text], special_tokens=specials, weight=weight, into=counts)
    merges = learn_merges(counts, recipe.n_merges)
    merges += _required_merges([byte_encode(text) for text in recipe.required], merges)
    return build_vocab(
        merges, recipe.special_tokens, recipe.pad_to, leading=recipe.leading, user_defined=recipe.user_defined
    )


def _required_merges(words: Iterable[str], merges: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Left-to-right merges that make each word one token (idefics3 looks up "\\n\\n" as one token)."""
    have = {a + b for a, b in merges}
    out: list[tuple[str, str]] = []
    for word in words:
        for end in range(2, len(word) + 1):
            if word[:end] not in have:
                out.append((word[: end - 1], word[end - 1]))
                have.add(word[:end])
    return tuple(out)


# ------------------------------------------------------------------------------ SentencePiece-style


@dataclass(frozen=True)
class SpmRecipe:
    """A SentencePiece-style vocabulary: specials at fixed ids, byte fallback, scored pieces."""

    corpus: tuple[str, ...]
    n_pieces: int
    leading: tuple[tuple[str, int], ...]  # (text, gguf.TokenType) at ids 0.. (e.g. <unk> <s> </s>)
    trailing: tuple[tuple[str, int], ...] = ()  # after every piece
    add_space_prefix: bool = True  # what llama.cpp does with text before the first piece
    required: tuple[str, ...] = ()  # pieces that must exist (e.g. "\\n\\n")
    weighted: tuple[tuple[str, int], ...] = ()
    excluded: tuple[str, ...] = ()  # pieces never added, whatever the corpus says


def _spm_words(texts: Iterable[tuple[str, int]], add_space_prefix: bool) -> Counter[str]:
    """Words as SentencePiece sees them: spaces become ▁ and start the next word; newlines stand alone."""
    counts: Counter[str] = Counter()
    for text, weight in texts:
        for line in text.split("\n"):
            line = line.replace(" ", SPM_SPACE)
            if add_space_prefix and line:
                line = SPM_SPACE + line
            for word in re.findall(f"{SPM_SPACE}*[^{SPM_SPACE}]+|{SPM_SPACE}+", line):
                counts[word] += weight
            counts["\n"] += weight
    return counts


@lru_cache(maxsize=16)
def learn_spm_vocab(recipe: SpmRecipe) -> Vocab:
    counts = _spm_words([(t, 1) for t in recipe.corpus] + list(recipe.weighted), recipe.add_space_prefix)
    chars = sorted({ch for word in counts for ch in word if ch != "\n"})
    tokens = [text for text, _ in recipe.leading] + [f"<0x{b:02X}>" for b in range(256)]
    types = [kind for _, kind in recipe.leading] + [int(gguf.TokenType.BYTE)] * 256
    seen = set(tokens) | set(recipe.excluded)
    pieces = [piece for piece in recipe.required if piece not in seen]
    seen.update(pieces)
    for left, right in learn_merges(counts, recipe.n_pieces):
        if left + right not in seen:
            seen.add(left + right)
            pieces.append(left + right)
    pieces += [ch for ch in chars if ch not in seen]  # single characters score below every merge
    n_fixed = len(tokens)
    tokens += pieces
    types += [_NORMAL] * len(pieces)
    tokens += [text for text, _ in recipe.trailing]
    types += [kind for _, kind in recipe.trailing]
    scores = [0.0] * n_fixed + [-float(rank) for rank in range(len(pieces))] + [0.0] * len(recipe.trailing)
    special = tuple(t for t, kind in zip(tokens, types, strict=True) if kind not in (_NORMAL, _BYTE))
    return Vocab(tuple(tokens), tuple(types), (), special, model="llama", scores=tuple(scores))


@dataclass(frozen=True)
class TokenizerMetadata:
    """The tokenizer keys of a GGUF besides the vocabulary itself (tokens are named, not numbered)."""

    bos: str
    eos: str
    eot: str | None = None
    pad: str | None = None
    add_bos: bool = False
    add_eos: bool = False
    chat_template: str | None = None
    pre_tokenizer: str | None = PRE_TOKENIZER  # byte-level BPE only
    unk: str | None = None
    add_space_prefix: bool | None = None  # SentencePiece-style only; None: llama.cpp's default (true)


def add_tokenizer(writer: gguf.GGUFWriter, vocab: Vocab, meta: TokenizerMetadata) -> None:
    writer.add_tokenizer_model(vocab.model)
    if vocab.model == "gpt2" and meta.pre_tokenizer is not None:
        writer.add_tokenizer_pre(meta.pre_tokenizer)
    writer.add_token_list(list(vocab.tokens))
    writer.add_token_types(list(vocab.types))
    if vocab.scores is not None:
        writer.add_token_scores(list(vocab.scores))
    if vocab.model == "gpt2":  # llama.cpp needs the key, even with no merge in it
        writer.add_token_merges(vocab.merge_strings())
    writer.add_bos_token_id(vocab.id_of(meta.bos))
    writer.add_eos_token_id(vocab.id_of(meta.eos))
    if meta.eot is not None:
        writer.add_eot_token_id(vocab.id_of(meta.eot))
    if meta.pad is not None:
        writer.add_pad_token_id(vocab.id_of(meta.pad))
    if meta.unk is not None:
        writer.add_unk_token_id(vocab.id_of(meta.unk))
    writer.add_add_bos_token(meta.add_bos)
    writer.add_add_eos_token(meta.add_eos)
    if meta.add_space_prefix is not None:
        writer.add_add_space_prefix(meta.add_space_prefix)
    if meta.chat_template is not None:
        writer.add_chat_template(meta.chat_template)
