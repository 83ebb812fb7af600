"""Deterministic random-weight test models: a LLaMA-arch text GGUF plus a LLaVA-style mmproj GGUF.

``make_test_model(preset, out_dir, seed=...)`` writes ``{preset}-text.gguf`` and
``{preset}-mmproj.gguf``. The same generator version, preset and seed always give
byte-identical files, and existing files made that way are reused without rewriting.

Presets
-------
``tiny``  (for tests; F32, built in < 0.1 s)
    text: n_embd 64, 2 layers, 4 heads / 2 KV heads, n_ff 128, n_ctx 4096, 629 tokens
    (256 bytes + 370 merges + 3 control), 0.64 MB. mmproj: 32 px input, patch 8 -> 16 image
    tokens per image, ViT hidden 64, 2 blocks, 4 heads, projector 64 -> 64 -> 64, 0.36 MB.
``bench`` (for benchmarks; Qwen2.5-0.5B shape on the LLaMA arch)
    text: n_embd 896, 24 layers, 14 heads / 2 KV heads, n_ff 4864, n_ctx 32768, vocabulary
    padded with UNUSED ``<unused_N>`` tokens to 151,936; written as F16, then quantized to
    Q4_0 by libllama's own quantizer (output.weight falls back to Q8_0 because 896 is not a
    multiple of 256): 427 MB. mmproj: ViT-B/14 at 224 px (256 image tokens), 12 blocks,
    hidden 768, ff 3072, projector 768 -> 896 -> 896, F16: 175 MB. About 22 s to build on
    2 cores, peak RSS ~1.8 GB.

Tokenizer
---------
Byte-level BPE (``tokenizer.ggml.model = "gpt2"``, pre-tokenizer ``qwen2``): 256 byte tokens
in GPT-2 ``bytes_to_unicode`` form, merges learned deterministically from the small English
corpus below (weighted so the LLaVA-CoT stage tags merge into 1-3 tokens each; they stay
plain text), then the CONTROL tokens ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``.
EOS = EOT = ``<|im_end|>``, BOS = PAD = ``<|endoftext|>`` with ``add_bos_token`` false, and a
ChatML template. The ``qwen2`` pre-tokenizer is used rather than ``default`` because llama.cpp
enables ``clean_spaces`` for ``default``, which makes detokenization drop the space in " ?"
and " ,": with ``qwen2`` any UTF-8 text round-trips exactly.

Logits
------
The output head is scaled (logit std ~10) so greedy decoding is robust to small numeric
differences between code paths. Measured on the tiny preset, seed 0, greedy decoding of 40
steps from each of 16 prompts (640 steps): top-1 minus top-2 logit gap median 2.2, 5th
percentile 0.16, 1st percentile 0.05, minimum 0.009; 98.8 % of steps have a gap > 0.05
(the bench preset: median 2.0, 97.8 % > 0.05). In the bench preset the ``<unused_N>`` rows
of the output head are zero, so those tokens (logit 0) never win against the real ones.

Note: clip.cpp's LLaVA graph stops before the last ViT block (LLaVA takes the penultimate
layer's features), so the last block's weights are loaded but never evaluated.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import gguf
import numpy as np

__all__ = ["GENERATOR_VERSION", "PRESETS", "TestModelFiles", "make_test_model"]

# Bump whenever the bytes written for a given (preset, seed) change.
GENERATOR_VERSION = 2
PRESETS = ("tiny", "bench")

_KEY_PREFIX = "stagelens.testmodel"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

STAGE_TAGS = (
    "<SUMMARY>",
    "</SUMMARY>",
    "<CAPTION>",
    "</CAPTION>",
    "<REASONING>",
    "</REASONING>",
    "<CONCLUSION>",
    "</CONCLUSION>",
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

_CORPUS = """\
How many red circles are in the image? Look at the image and count the shapes.
What color is the large square? Which shape is on the left of the triangle?
The image shows three red circles, two blue squares and one green triangle on a white
background. A small yellow star is in the top right corner of the picture.
Is there a circle inside the square? How many shapes are there in total?
Answer the question with a single word or a number. Describe the image in detail.

<SUMMARY> I will describe the image, count the red circles, and then answer the question.
</SUMMARY>

<CAPTION> The image shows several colored shapes: red circles, blue squares, and a green
triangle. The shapes are drawn on a plain white background. </CAPTION>

<REASONING> To answer the question, I count each red circle in the image. There is one red
circle at the top, one in the middle, and one near the bottom. That makes three red circles.
</REASONING>

<CONCLUSION> 3 </CONCLUSION>

<SUMMARY> I will look at the colors of the shapes and find the large square. </SUMMARY>

<CAPTION> A large blue square is in the center of the image. A red circle and a green
triangle are next to it. </CAPTION>

<REASONING> The question asks for the color of the large square. The square in the center
is the largest shape, and its color is blue. </REASONING>

<CONCLUSION> Blue </CONCLUSION>

<SUMMARY> I will find the triangle and check which shape is on its left side. </SUMMARY>

<CAPTION> The picture has a green triangle on the right, a red circle in the middle and a
blue square on the left. </CAPTION>

<REASONING> The shape directly to the left of the triangle is the red circle, because the
circle is between the square and the triangle. </REASONING>

<CONCLUSION> The red circle. </CONCLUSION>

Which answer is better? Compare the two responses and choose the one that is more accurate.
Response 1 is better than response 2. The first one counts the circles correctly.
The image is a chart with numbers, text, lines and a title. The total is 12, and 7 + 5 = 12.
There are 4 apples, 10 cats, 2 dogs and a person standing near the table.
"""

# Tags in the contexts LLaVA-CoT writes them; weighted so their merges are learned first.
_TAG_CONTEXTS = tuple(
    f"{open_tag} text {close_tag}\n\n{open_tag}\n{close_tag} {open_tag}\n"
    for open_tag, close_tag in zip(STAGE_TAGS[::2], STAGE_TAGS[1::2], strict=True)
)
_TAG_WEIGHT = 50
_MAX_MERGES = 400

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


@dataclass(frozen=True)
class TestModelFiles:
    """Paths of a generated test model."""

    __test__ = False  # not a pytest test class, despite the name

    text: Path  # text model GGUF
    mmproj: Path  # vision projector GGUF


@dataclass(frozen=True)
class _TextSpec:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_ctx: int
    rope_freq_base: float
    vocab_size: int | None  # pad the vocabulary with UNUSED tokens up to this size
    dtype: type[np.floating]
    quantize_q4_0: bool
    logit_std: float  # std of the logits the output head gives for an RMS-normed input


@dataclass(frozen=True)
class _VisionSpec:
    image_size: int
    patch_size: int
    n_embd: int
    n_layer: int
    n_head: int
    n_ff: int
    n_proj: int  # hidden size of the mm.0 -> GELU -> mm.2 projector
    dtype: type[np.floating]


_TEXT_SPECS = {
    "tiny": _TextSpec(
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_head_kv=2,
        n_ff=128,
        n_ctx=4096,
        rope_freq_base=10000.0,
        vocab_size=None,
        dtype=np.float32,
        quantize_q4_0=False,
        logit_std=10.0,
    ),
    "bench": _TextSpec(
        n_embd=896,
        n_layer=24,
        n_head=14,
        n_head_kv=2,
        n_ff=4864,
        n_ctx=32768,
        rope_freq_base=1000000.0,
        vocab_size=151936,
        dtype=np.float16,
        quantize_q4_0=True,
        logit_std=10.0,
    ),
}
_VISION_SPECS = {
    "tiny": _VisionSpec(
        image_size=32,
        patch_size=8,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_ff=128,
        n_proj=64,
        dtype=np.float32,
    ),
    "bench": _VisionSpec(
        image_size=224,
        patch_size=14,
        n_embd=768,
        n_layer=12,
        n_head=12,
        n_ff=3072,
        n_proj=896,
        dtype=np.float16,
    ),
}

# CLIP's preprocessing constants.
_IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
_IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def make_test_model(preset: str, out_dir: Path, *, seed: int = 0) -> TestModelFiles:
    """Write (or reuse) ``{preset}-text.gguf`` and ``{preset}-mmproj.gguf`` in ``out_dir``."""
    if preset not in PRESETS:
        valid = ", ".join(PRESETS)
        raise ValueError(f"unknown test model preset {preset!r}; valid presets: {valid}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TestModelFiles(
        text=out_dir / f"{preset}-text.gguf",
        mmproj=out_dir / f"{preset}-mmproj.gguf",
    )
    text_spec, vision_spec = _TEXT_SPECS[preset], _VISION_SPECS[preset]
    if not _is_current(files.text, "text", preset, seed):
        _write_atomically(files.text, lambda tmp: _write_text_model(tmp, text_spec, preset, seed))
    if not _is_current(files.mmproj, "mmproj", preset, seed):
        _write_atomically(
            files.mmproj,
            lambda tmp: _write_mmproj(tmp, vision_spec, text_spec.n_embd, preset, seed),
        )
    return files


# ---------------------------------------------------------------------------------------------
# Files: atomic writes and reuse
# ---------------------------------------------------------------------------------------------


def _generator_kv(kind: str, preset: str, seed: int) -> dict[str, object]:
    return {
        f"{_KEY_PREFIX}.version": GENERATOR_VERSION,
        f"{_KEY_PREFIX}.kind": kind,
        f"{_KEY_PREFIX}.preset": preset,
        f"{_KEY_PREFIX}.seed": seed,
    }


def _add_generator_kv(writer: gguf.GGUFWriter, kind: str, preset: str, seed: int) -> None:
    writer.add_uint32(f"{_KEY_PREFIX}.version", GENERATOR_VERSION)
    writer.add_string(f"{_KEY_PREFIX}.kind", kind)
    writer.add_string(f"{_KEY_PREFIX}.preset", preset)
    writer.add_uint64(f"{_KEY_PREFIX}.seed", seed)


_SCALAR_FORMATS = {
    gguf.GGUFValueType.UINT8: "<B",
    gguf.GGUFValueType.INT8: "<b",
    gguf.GGUFValueType.UINT16: "<H",
    gguf.GGUFValueType.INT16: "<h",
    gguf.GGUFValueType.UINT32: "<I",
    gguf.GGUFValueType.INT32: "<i",
    gguf.GGUFValueType.UINT64: "<Q",
    gguf.GGUFValueType.INT64: "<q",
    gguf.GGUFValueType.FLOAT32: "<f",
    gguf.GGUFValueType.FLOAT64: "<d",
    gguf.GGUFValueType.BOOL: "<?",
}


def _read_generator_kv(path: Path) -> dict[str, object]:
    """Read our keys from the start of the KV section.

    gguf.GGUFReader parses the whole file up front (~7 s for the bench model's 151,936-entry
    token list), so this reads only up to our keys, which the writer puts first.
    """
    wanted = set(_generator_kv("", "", 0))
    found: dict[str, object] = {}
    with open(path, "rb") as f:
        magic, version, _n_tensors, n_kv = struct.unpack("<IIQQ", f.read(24))
        if magic != gguf.GGUF_MAGIC or version < 2:
            raise ValueError(f"{path} is not a GGUF v2+ file")
        for _ in range(n_kv):
            if wanted <= found.keys():
                break
            key = _read_gguf_string(f)
            value = _read_gguf_value(f, gguf.GGUFValueType(_unpack(f, "<I")))
            if key in wanted:
                found[key] = value
    return found


def _unpack(f: BinaryIO, fmt: str) -> int | float | bool:
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _read_gguf_string(f: BinaryIO) -> str:
    return f.read(int(_unpack(f, "<Q"))).decode("utf-8")


def _read_gguf_value(f: BinaryIO, vtype: gguf.GGUFValueType) -> object:
    if vtype == gguf.GGUFValueType.STRING:
        return _read_gguf_string(f)
    if vtype == gguf.GGUFValueType.ARRAY:  # skipped: none of our keys is an array
        item_type = gguf.GGUFValueType(_unpack(f, "<I"))
        count = int(_unpack(f, "<Q"))
        if item_type in _SCALAR_FORMATS:
            f.seek(count * struct.calcsize(_SCALAR_FORMATS[item_type]), os.SEEK_CUR)
        else:
            for _ in range(count):
                _read_gguf_value(f, item_type)
        return None
    return _unpack(f, _SCALAR_FORMATS[vtype])


def _is_current(path: Path, kind: str, preset: str, seed: int) -> bool:
    if not path.is_file():
        return False
    try:
        return _read_generator_kv(path) == _generator_kv(kind, preset, seed)
    except (OSError, ValueError, KeyError, struct.error):
        return False  # unreadable or not a GGUF: regenerate it


def _write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a hidden temp file next to ``final``, then rename it into place."""
    tmp = _temp_path(final, ".partial")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _temp_path(final: Path, suffix: str) -> Path:
    # Not tempfile.mkstemp: its 0600 mode would carry over to the final file.
    return final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _write_gguf(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> tuple[str, ...]:
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
    table = _bytes_to_unicode()
    return "".join(table[b] for b in text.encode("utf-8"))


def _training_counts() -> Counter[str]:
    counts = Counter(_byte_encode(w) for w in _PRETOKENIZE.findall(_CORPUS))
    for context in _TAG_CONTEXTS:
        for word in _PRETOKENIZE.findall(context):
            counts[_byte_encode(word)] += _TAG_WEIGHT
    return counts


@lru_cache(maxsize=1)
def _bpe_merges() -> tuple[tuple[str, str], ...]:
    """Greedy BPE training: the most frequent pair first, ties to the smallest (deterministic)."""
    words = [(list(word), count) for word, count in sorted(_training_counts().items())]
    pair_counts: Counter[tuple[str, str]] = Counter()
    pair_words: dict[tuple[str, str], set[int]] = {}
    for index, (symbols, count) in enumerate(words):
        for pair in zip(symbols, symbols[1:], strict=False):
            pair_counts[pair] += count
            pair_words.setdefault(pair, set()).add(index)

    merges: list[tuple[str, str]] = []
    while len(merges) < _MAX_MERGES and pair_counts:
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
class _Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]

    def id_of(self, token: str) -> int:
        return self.tokens.index(token)

    def n_real(self) -> int:
        """Number of tokens before the UNUSED padding."""
        return sum(t != gguf.TokenType.UNUSED for t in self.types)


def _build_vocab(pad_to: int | None) -> _Vocab:
    merges = _bpe_merges()
    tokens = list(_bytes_to_unicode())
    seen = set(tokens)
    for left, right in merges:
        merged = left + right
        if merged not in seen:  # two merge paths can produce the same string
            seen.add(merged)
            tokens.append(merged)
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    tokens += SPECIAL_TOKENS
    types += [int(gguf.TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    if pad_to is not None:
        n_pad = pad_to - len(tokens)
        if n_pad < 0:
            raise ValueError(f"vocabulary of {len(tokens)} tokens does not fit in {pad_to}")
        tokens += [f"<unused_{i}>" for i in range(n_pad)]
        types += [int(gguf.TokenType.UNUSED)] * n_pad
    return _Vocab(tokens=tokens, types=types, merges=[f"{a} {b}" for a, b in merges])


def _add_tokenizer(writer: gguf.GGUFWriter, vocab: _Vocab) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    writer.add_bos_token_id(vocab.id_of("<|endoftext|>"))
    writer.add_eos_token_id(vocab.id_of("<|im_end|>"))
    writer.add_eot_token_id(vocab.id_of("<|im_end|>"))
    writer.add_pad_token_id(vocab.id_of("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)


def _text_tensors(spec: _TextSpec, vocab: _Vocab, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, array) in numpy layout: a GGUF tensor {ne0, ne1} is an array (ne1, ne0)."""
    n_vocab, d = len(vocab.tokens), spec.n_embd
    head_dim = d // spec.n_head
    n_q, n_kv = spec.n_head * head_dim, spec.n_head_kv * head_dim
    ones = np.ones(d, dtype=np.float32)

    yield "token_embd.weight", _normal(rng, (n_vocab, d), 1.0).astype(spec.dtype)
    for i in range(spec.n_layer):
        # Unit-variance residual stream: each projection keeps its input's scale.
        yield f"blk.{i}.attn_norm.weight", ones
        yield f"blk.{i}.attn_q.weight", _normal(rng, (n_q, d), d**-0.5).astype(spec.dtype)
        yield f"blk.{i}.attn_k.weight", _normal(rng, (n_kv, d), d**-0.5).astype(spec.dtype)
        yield f"blk.{i}.attn_v.weight", _normal(rng, (n_kv, d), d**-0.5).astype(spec.dtype)
        yield f"blk.{i}.attn_output.weight", _normal(rng, (d, n_q), n_q**-0.5).astype(spec.dtype)
        yield f"blk.{i}.ffn_norm.weight", ones
        yield f"blk.{i}.ffn_gate.weight", _normal(rng, (spec.n_ff, d), d**-0.5).astype(spec.dtype)
        yield f"blk.{i}.ffn_up.weight", _normal(rng, (spec.n_ff, d), d**-0.5).astype(spec.dtype)
        yield (
            f"blk.{i}.ffn_down.weight",
            _normal(rng, (d, spec.n_ff), spec.n_ff**-0.5).astype(spec.dtype),
        )
    yield "output_norm.weight", ones
    # A large output scale gives peaked logits, so greedy decoding is stable across code paths.
    output = _normal(rng, (n_vocab, d), spec.logit_std * d**-0.5)
    output[vocab.n_real() :] = 0.0  # UNUSED padding: logit 0, never above the real tokens
    yield "output.weight", output.astype(spec.dtype)


def _vision_tensors(spec: _VisionSpec, n_embd_text: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    d, p = spec.n_embd, spec.patch_size
    n_patches = (spec.image_size // p) ** 2
    ones = np.ones(d, dtype=np.float32)

    def weight(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return _normal(rng, shape, fan_in**-0.5).astype(spec.dtype)

    def bias(n: int) -> np.ndarray:
        return _normal(rng, (n,), 0.02)

    # Biases and norms stay F32 (as in converted mmproj files); matrices use spec.dtype.
    yield "v.patch_embd.weight", weight((d, 3, p, p), 3 * p * p)
    yield "v.patch_embd.bias", bias(d)
    yield "v.position_embd.weight", weight((n_patches, d), 1)
    yield "v.pre_ln.weight", ones
    yield "v.pre_ln.bias", np.zeros(d, dtype=np.float32)
    for i in range(spec.n_layer):
        yield f"v.blk.{i}.ln1.weight", ones
        yield f"v.blk.{i}.ln1.bias", np.zeros(d, dtype=np.float32)
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            yield f"v.blk.{i}.{name}.weight", weight((d, d), d)
            yield f"v.blk.{i}.{name}.bias", bias(d)
        yield f"v.blk.{i}.ln2.weight", ones
        yield f"v.blk.{i}.ln2.bias", np.zeros(d, dtype=np.float32)
        # ffn_up must be (n_ff, d): clip.cpp swaps up/down for "mlp" when down's ne[0] == n_embd.
        yield f"v.blk.{i}.ffn_up.weight", weight((spec.n_ff, d), d)
        yield f"v.blk.{i}.ffn_up.bias", bias(spec.n_ff)
        yield f"v.blk.{i}.ffn_down.weight", weight((d, spec.n_ff), spec.n_ff)
        yield f"v.blk.{i}.ffn_down.bias", bias(d)
    yield "v.post_ln.weight", ones
    yield "v.post_ln.bias", np.zeros(d, dtype=np.float32)
    yield "mm.0.weight", weight((spec.n_proj, d), d)
    yield "mm.0.bias", bias(spec.n_proj)
    yield "mm.2.weight", weight((n_embd_text, spec.n_proj), spec.n_proj)
    yield "mm.2.bias", bias(n_embd_text)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


# ---------------------------------------------------------------------------------------------
# GGUF writers
# ---------------------------------------------------------------------------------------------


def _write_text_model(path: Path, spec: _TextSpec, preset: str, seed: int) -> None:
    if not spec.quantize_q4_0:
        _write_text_gguf(path, spec, preset, seed)
        return
    unquantized = _temp_path(path, ".f16")
    try:
        _write_text_gguf(unquantized, spec, preset, seed)
        _quantize_q4_0(unquantized, path)
    finally:
        unquantized.unlink(missing_ok=True)


def _write_text_gguf(path: Path, spec: _TextSpec, preset: str, seed: int) -> None:
    vocab = _build_vocab(spec.vocab_size)
    writer = gguf.GGUFWriter(path, "llama")
    _add_generator_kv(writer, "text", preset, seed)
    writer.add_name(f"stagelens-test-{preset}")
    writer.add_description("random weights, for tests and benchmarks only")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if spec.dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16)
    writer.add_vocab_size(len(vocab.tokens))
    writer.add_context_length(spec.n_ctx)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_dimension_count(spec.n_embd // spec.n_head)
    writer.add_rope_freq_base(spec.rope_freq_base)
    _add_tokenizer(writer, vocab)
    for name, array in _text_tensors(spec, vocab, _rng(seed, 0)):
        writer.add_tensor(name, array)
    _write_gguf(writer)


def _write_mmproj(path: Path, spec: _VisionSpec, n_embd_text: int, preset: str, seed: int) -> None:
    writer = gguf.GGUFWriter(path, "clip")
    _add_generator_kv(writer, "mmproj", preset, seed)
    writer.add_name(f"stagelens-test-{preset}-mmproj")
    writer.add_description("random weights, for tests and benchmarks only")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if spec.dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16)
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_image_size(spec.image_size)
    writer.add_vision_patch_size(spec.patch_size)
    writer.add_vision_embedding_length(spec.n_embd)
    writer.add_vision_feed_forward_length(spec.n_ff)
    writer.add_vision_block_count(spec.n_layer)
    writer.add_vision_head_count(spec.n_head)
    writer.add_vision_projection_dim(n_embd_text)  # required key; unused by the "mlp" graph
    writer.add_vision_attention_layernorm_eps(1e-5)
    writer.add_vision_image_mean(list(_IMAGE_MEAN))
    writer.add_vision_image_std(list(_IMAGE_STD))
    for name, array in _vision_tensors(spec, n_embd_text, _rng(seed, 1)):
        writer.add_tensor(name, array)
    _write_gguf(writer)


def _quantize_q4_0(src: Path, dst: Path) -> None:
    """Quantize with libllama's own quantizer (what llama-quantize does)."""
    import llama_cpp  # deferred: loads libllama, only the bench preset needs it

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    # Q4_0 for the output head too: llama-quantize would keep it at Q6_K, which falls back to
    # Q8_0 for this 896-wide head, and Q8_0 gets no batched (repacked) kernels on x86, so a
    # "Q4_0" preset would batch like a Q8_0 one (a quarter of its weights are the head).
    params.output_tensor_type = 2  # GGML_TYPE_Q4_0
    params.nthread = 0  # all hardware threads; the result does not depend on it
    status = llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(dst), ctypes.byref(params))
    if status != 0:
        raise RuntimeError(f"llama_model_quantize failed ({status}) for {src}")
