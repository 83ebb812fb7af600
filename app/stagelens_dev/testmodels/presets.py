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
    Q4_0 by libllama's own quantizer: 427 MB. mmproj: ViT-B/14 at 224 px (256 image tokens),
    12 blocks, hidden 768, ff 3072, projector 768 -> 896 -> 896, F16: 175 MB. About 22 s to
    build on 2 cores, peak RSS ~1.8 GB.

Logits
------
The output head is scaled (logit std ~10) so greedy decoding is robust to small numeric
differences between code paths. Measured on the tiny preset, seed 0, greedy decoding of 40
steps from each of 16 prompts (640 steps): top-1 minus top-2 logit gap median 2.2, 5th
percentile 0.16, 1st percentile 0.05, minimum 0.009; 98.8 % of steps have a gap > 0.05
(the bench preset: median 2.0, 97.8 % > 0.05). In the bench preset the ``<unused_N>`` rows
of the output head are zero, so those tokens (logit 0) never win against the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp, WriteFile
from stagelens_dev.testmodels import vocab as test_vocab
from stagelens_dev.testmodels.llava import TextSpec, VisionSpec, write_mmproj, write_text_gguf
from stagelens_dev.tokenizer import Vocab

__all__ = [
    "BENCH",
    "GENERATOR_VERSION",
    "PRESETS",
    "TINY",
    "Preset",
    "TestModelFiles",
    "make_test_model",
    "preset_named",
    "write_projector",
    "write_text_model",
]

# Bump whenever the bytes written for a given (preset, seed) change.
GENERATOR_VERSION = 2

# Q4_0 for the output head too: llama-quantize would keep it at Q6_K, which falls back to Q8_0
# for this 896-wide head, and Q8_0 gets no batched (repacked) kernels on x86, so a "Q4_0" preset
# would batch like a Q8_0 one (a quarter of its weights are the head).
_LLAMA_FTYPE_MOSTLY_Q4_0 = 2
_GGML_TYPE_Q4_0 = 2


@dataclass(frozen=True)
class Preset:
    name: str
    text: TextSpec
    vision: VisionSpec


@dataclass(frozen=True)
class TestModelFiles:
    """Paths of a generated test model."""

    __test__ = False  # not a pytest test class, despite the name

    text: Path  # text model GGUF
    mmproj: Path  # vision projector GGUF


TINY = Preset(
    "tiny",
    TextSpec(
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
    VisionSpec(image_size=32, patch_size=8, n_embd=64, n_layer=2, n_head=4, n_ff=128, n_proj=64, dtype=np.float32),
)
BENCH = Preset(
    "bench",
    TextSpec(
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
    VisionSpec(
        image_size=224, patch_size=14, n_embd=768, n_layer=12, n_head=12, n_ff=3072, n_proj=896, dtype=np.float16
    ),
)
_BY_NAME = {preset.name: preset for preset in (TINY, BENCH)}
PRESETS = tuple(_BY_NAME)


def preset_named(name: str) -> Preset:
    if name not in _BY_NAME:
        raise ValueError(f"unknown test model preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return _BY_NAME[name]


def _stamp(kind: str, preset: Preset, seed: int) -> GeneratorStamp:
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return GeneratorStamp(GENERATOR_VERSION, kind, preset.name, seed)


def make_test_model(preset: str, out_dir: Path, *, seed: int = 0) -> TestModelFiles:
    """Write (or reuse) ``{preset}-text.gguf`` and ``{preset}-mmproj.gguf`` in ``out_dir``."""
    chosen = preset_named(preset)
    text_stamp, mmproj_stamp = _stamp("text", chosen, seed), _stamp("mmproj", chosen, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TestModelFiles(text=out_dir / f"{preset}-text.gguf", mmproj=out_dir / f"{preset}-mmproj.gguf")
    gguf_write.ensure_file(files.text, text_stamp, _text_writer(chosen, text_stamp, None))
    gguf_write.ensure_file(files.mmproj, mmproj_stamp, _mmproj_writer(chosen, mmproj_stamp, chosen.text.n_embd))
    return files


def write_text_model(path: Path, preset: Preset, *, seed: int = 0, vocab: Vocab | None = None) -> None:
    """Write a preset's text model to ``path`` (atomically, always), optionally with another vocabulary."""
    gguf_write.write_atomically(path, _text_writer(preset, _stamp("text", preset, seed), vocab))


def write_projector(path: Path, preset: Preset, *, seed: int = 0, text_width: int | None = None) -> None:
    """Write a preset's mmproj to ``path``; ``text_width`` makes one that feeds a text model of another width."""
    stamp = _stamp("mmproj", preset, seed)
    gguf_write.write_atomically(path, _mmproj_writer(preset, stamp, text_width or preset.text.n_embd))


def _text_writer(preset: Preset, stamp: GeneratorStamp, vocab: Vocab | None) -> WriteFile:
    spec = preset.text

    def write(path: Path) -> None:
        chosen = vocab if vocab is not None else test_vocab.vocabulary(pad_to=spec.vocab_size)
        write_text_gguf(path, spec, chosen, test_vocab.TOKENIZER_METADATA, stamp)

    if spec.quantize_q4_0:
        return gguf_write.quantized(write, _LLAMA_FTYPE_MOSTLY_Q4_0, _GGML_TYPE_Q4_0)
    return write


def _mmproj_writer(preset: Preset, stamp: GeneratorStamp, text_width: int) -> WriteFile:
    def write(path: Path) -> None:
        write_mmproj(path, preset.vision, text_width, stamp)

    return write
