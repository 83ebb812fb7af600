"""Random-weight LLaMA text models and LLaVA-style ("mlp" projector) mmproj files.

A GGUF tensor {ne0, ne1} is written from a numpy array (ne1, ne0). The text model keeps a
unit-variance residual stream (each projection keeps its input's scale) and a scaled output
head, so greedy decoding is robust to small numeric differences between code paths.

Note: clip.cpp's LLaVA graph stops before the last ViT block (LLaVA takes the penultimate
layer's features), so the last block's weights are loaded but never evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.tokenizer import TokenizerMetadata, Vocab, add_tokenizer

__all__ = [
    "IMAGE_MEAN",
    "IMAGE_STD",
    "TextSpec",
    "VisionSpec",
    "rng_for",
    "text_tensors",
    "vision_tensors",
    "write_mmproj",
    "write_text_gguf",
]

TensorStream = Iterator[tuple[str, np.ndarray]]


@dataclass(frozen=True)
class TextSpec:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_ctx: int
    rope_freq_base: float
    vocab_size: int | None  # pad the vocabulary with UNUSED tokens up to this size
    dtype: type[np.floating]
    quantize_q4_0: bool  # write F16, then quantize to Q4_0 with libllama
    logit_std: float  # std of the logits the output head gives for an RMS-normed input


@dataclass(frozen=True)
class VisionSpec:
    image_size: int
    patch_size: int
    n_embd: int
    n_layer: int
    n_head: int
    n_ff: int
    n_proj: int  # hidden size of the mm.0 -> GELU -> mm.2 projector
    dtype: type[np.floating]


# CLIP's preprocessing constants.
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)


def text_tensors(spec: TextSpec, vocab: Vocab, rng: np.random.Generator) -> TensorStream:
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


def vision_tensors(spec: VisionSpec, n_embd_text: int, rng: np.random.Generator) -> TensorStream:
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


def rng_for(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _file_type(dtype: type[np.floating]) -> gguf.LlamaFileType:
    return gguf.LlamaFileType.ALL_F32 if dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16


def write_text_gguf(
    path: Path,
    spec: TextSpec,
    vocab: Vocab,
    tokenizer: TokenizerMetadata,
    stamp: GeneratorStamp,
    tensors: TensorStream | None = None,
) -> None:
    """A LLaMA-architecture text GGUF (unquantized); ``tensors`` default to random weights from the stamp's seed."""
    writer = gguf_write.new_writer(path, "llama", stamp)
    writer.add_name(f"stagelens-test-{stamp.preset}")
    writer.add_description("random weights, for tests and benchmarks only")
    writer.add_file_type(_file_type(spec.dtype))
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
    add_tokenizer(writer, vocab, tokenizer)
    for name, array in tensors if tensors is not None else text_tensors(spec, vocab, rng_for(stamp.seed, 0)):
        writer.add_tensor(name, array)
    gguf_write.finish(writer)


def write_mmproj(path: Path, spec: VisionSpec, n_embd_text: int, stamp: GeneratorStamp) -> None:
    """A CLIP ViT + "mlp" projector mmproj GGUF that feeds ``n_embd_text``-wide embeddings."""
    writer = gguf_write.new_writer(path, "clip", stamp)
    writer.add_name(f"stagelens-test-{stamp.preset}-mmproj")
    writer.add_description("random weights, for tests and benchmarks only")
    writer.add_file_type(_file_type(spec.dtype))
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
    writer.add_vision_image_mean(list(IMAGE_MEAN))
    writer.add_vision_image_std(list(IMAGE_STD))
    for name, array in vision_tensors(spec, n_embd_text, rng_for(stamp.seed, 1)):
        writer.add_tensor(name, array)
    gguf_write.finish(writer)
