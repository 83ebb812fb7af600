"""A twin's two GGUF files, written with the project's one GGUF writer and tokenizer writer."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.testmodels.twins.families import ExtraKV, Family
from stagelens_dev.testmodels.twins.tensors import text_tensors, vision_tensors
from stagelens_dev.tokenizer import add_tokenizer

DESCRIPTION = "random weights with the layout of a real family; for tests only"


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def write_text(path: Path, family: Family, stamp: GeneratorStamp) -> None:
    t = family.text
    twin_vocab = family.vocab()
    vocab = twin_vocab.learn()
    w = gguf_write.new_writer(path, t.arch, stamp)
    w.add_name(f"stagelens-twin-{family.key}")
    w.add_description(DESCRIPTION)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if t.write_vocab_size:
        w.add_vocab_size(len(vocab.tokens))
    w.add_context_length(t.n_ctx)
    w.add_embedding_length(t.n_embd)
    w.add_block_count(t.n_layer)
    w.add_feed_forward_length(t.n_ff)
    w.add_head_count(t.n_head)
    w.add_head_count_kv(t.n_head_kv)
    w.add_rope_freq_base(t.rope_base)
    w.add_layer_norm_rms_eps(t.rms_eps)
    if t.write_rope_dim:
        w.add_rope_dimension_count(t.head_dim)
    if t.write_head_dim:
        w.add_key_length(t.head_dim)
        w.add_value_length(t.head_dim)
    if t.rope_sections is not None:
        w.add_rope_dimension_sections(list(t.rope_sections))
    if t.n_deepstack:
        w.add_num_deepstack_layers(t.n_deepstack)
    if t.sliding_window is not None:
        w.add_sliding_window(t.sliding_window)
    add_tokenizer(w, vocab, twin_vocab.meta)
    for name, array in text_tensors(t, len(vocab.tokens), _rng(stamp.seed, 0)):
        w.add_tensor(name, array)
    gguf_write.finish(w)


def _add_extra(writer: gguf.GGUFWriter, extra: ExtraKV) -> None:
    for key, (kind, value) in extra.items():
        if kind == "u32":
            writer.add_uint32(key, int(value))  # type: ignore[call-overload]
        elif kind == "bool":
            writer.add_bool(key, bool(value))
        elif kind == "str":
            writer.add_string(key, str(value))
        elif kind in ("i32_arr", "bool_arr"):
            assert isinstance(value, list)
            writer.add_array(key, value)
        else:
            raise AssertionError(f"unknown metadata kind {kind!r} for {key}")


def write_mmproj(path: Path, family: Family, stamp: GeneratorStamp) -> None:
    v = family.vision
    w = gguf_write.new_writer(path, "clip", stamp)
    w.add_name(f"stagelens-twin-{family.key}-mmproj")
    w.add_description(DESCRIPTION)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_clip_has_vision_encoder(True)
    w.add_clip_projector_type(v.projector)
    w.add_vision_projection_dim(v.projection_dim or family.text.n_embd)
    w.add_vision_image_size(v.image_size)
    w.add_vision_patch_size(v.patch_size)
    w.add_vision_embedding_length(v.n_embd)
    w.add_vision_feed_forward_length(v.n_ff)
    w.add_vision_block_count(v.n_layer)
    w.add_vision_head_count(v.n_head)
    w.add_vision_attention_layernorm_eps(v.eps)
    w.add_vision_image_mean(list(v.mean))
    w.add_vision_image_std(list(v.std))
    if v.act == "gelu":
        w.add_vision_use_gelu(True)
    elif v.act == "silu":
        w.add_vision_use_silu(True)
    else:
        w.add_bool("clip.use_gelu", False)  # the legacy LLaVA converter writes it either way: quick GELU
    _add_extra(w, v.extra_kv)
    for name, array in vision_tensors(v, family.text.n_embd, _rng(stamp.seed, 1)):
        w.add_tensor(name, array)
    gguf_write.finish(w)
