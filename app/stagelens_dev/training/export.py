"""Write the demo model as a llama.cpp text GGUF plus a libmtmd ``mlp`` mmproj GGUF, and read them back.

All tensors are F32 (the model is small enough to ship unquantized, and F32 keeps the PyTorch
and llama.cpp logits close). A GGUF tensor {ne0, ne1} is a numpy array (ne1, ne0), which is
exactly PyTorch's (out_features, in_features) Linear layout, so weights are written as they are.
RoPE needs no q/k permutation: the PyTorch model already rotates llama.cpp's NORM-mode pairs.
The mmproj sets ``clip.vision.feature_layer`` to its block count, so clip.cpp evaluates every
block (its LLaVA default stops one early) and no unused block has to be shipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.tokenizer import Vocab, add_tokenizer
from stagelens_dev.training.model import (
    IMAGE_MEAN,
    IMAGE_STD,
    TEXT_EPS,
    VISION_EPS,
    DemoModel,
    ModelConfig,
    VisionBlock,
)
from stagelens_dev.training.tokenizer import METADATA, vocab_of

TEXT_FILE = "demo-text.gguf"
MMPROJ_FILE = "demo-mmproj.gguf"
NAME = "stagelens-demo-shapes"
PRESET = "demo"
EXPORT_VERSION = 2  # bump when the bytes written for the same model change
FEATURE_LAYER_KEY = "clip.vision.feature_layer"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy().copy()


def text_tensors(model: DemoModel) -> Iterator[tuple[str, torch.Tensor]]:
    yield "token_embd.weight", model.embed.weight
    for i, layer in enumerate(model.decoder_layers()):
        yield f"blk.{i}.attn_norm.weight", layer.attn_norm.weight
        yield f"blk.{i}.attn_q.weight", layer.q.weight
        yield f"blk.{i}.attn_k.weight", layer.k.weight
        yield f"blk.{i}.attn_v.weight", layer.v.weight
        yield f"blk.{i}.attn_output.weight", layer.o.weight
        yield f"blk.{i}.ffn_norm.weight", layer.ffn_norm.weight
        yield f"blk.{i}.ffn_gate.weight", layer.gate.weight
        yield f"blk.{i}.ffn_up.weight", layer.up.weight
        yield f"blk.{i}.ffn_down.weight", layer.down.weight
    yield "output_norm.weight", model.norm.weight
    yield "output.weight", model.output.weight


def vision_tensors(model: DemoModel) -> Iterator[tuple[str, torch.Tensor]]:
    v = model.vision
    yield "v.patch_embd.weight", v.patch.weight
    assert v.patch.bias is not None  # the patch convolution is built with a bias
    yield "v.patch_embd.bias", v.patch.bias
    yield "v.position_embd.weight", v.pos
    yield "v.pre_ln.weight", v.pre_ln.weight
    yield "v.pre_ln.bias", v.pre_ln.bias
    for i, block in enumerate(v.blocks):
        yield from _block_tensors(i, block)
    yield "v.post_ln.weight", v.post_ln.weight
    yield "v.post_ln.bias", v.post_ln.bias
    yield "mm.0.weight", v.mm0.weight
    yield "mm.0.bias", v.mm0.bias
    yield "mm.2.weight", v.mm2.weight
    yield "mm.2.bias", v.mm2.bias


def _block_tensors(i: int, block: VisionBlock) -> Iterator[tuple[str, torch.Tensor]]:
    yield f"v.blk.{i}.ln1.weight", block.ln1.weight
    yield f"v.blk.{i}.ln1.bias", block.ln1.bias
    for name, linear in (("attn_q", block.q), ("attn_k", block.k), ("attn_v", block.v), ("attn_out", block.out)):
        yield f"v.blk.{i}.{name}.weight", linear.weight
        yield f"v.blk.{i}.{name}.bias", linear.bias
    yield f"v.blk.{i}.ln2.weight", block.ln2.weight
    yield f"v.blk.{i}.ln2.bias", block.ln2.bias
    # ffn_up must be (n_ff, d): clip.cpp swaps up/down for "mlp" when down's ne[0] == n_embd.
    yield f"v.blk.{i}.ffn_up.weight", block.up.weight
    yield f"v.blk.{i}.ffn_up.bias", block.up.bias
    yield f"v.blk.{i}.ffn_down.weight", block.down.weight
    yield f"v.blk.{i}.ffn_down.bias", block.down.bias


def export_model(model: DemoModel, vocab: Vocab, out_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write the text model and the mmproj into ``out_dir`` (each atomically, stamped with ``seed``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text_path, mmproj_path = out_dir / TEXT_FILE, out_dir / MMPROJ_FILE
    gguf_write.write_atomically(text_path, lambda path: _write_text(path, model, vocab, seed))
    gguf_write.write_atomically(mmproj_path, lambda path: _write_mmproj(path, model, seed))
    return text_path, mmproj_path


def _write_text(path: Path, model: DemoModel, vocab: Vocab, seed: int) -> None:
    cfg = model.cfg
    writer = gguf_write.new_writer(path, "llama", GeneratorStamp(EXPORT_VERSION, "text", PRESET, seed))
    writer.add_name(NAME)
    writer.add_description("StageLens demo model: answers questions about synthetic shape scenes in four stages")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(vocab.tokens))
    writer.add_context_length(cfg.n_ctx)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_block_count(cfg.n_layers)
    writer.add_feed_forward_length(cfg.n_ff)
    writer.add_head_count(cfg.n_heads)
    writer.add_head_count_kv(cfg.n_kv_heads)
    writer.add_layer_norm_rms_eps(TEXT_EPS)
    writer.add_rope_dimension_count(cfg.n_embd // cfg.n_heads)
    writer.add_rope_freq_base(cfg.rope_base)
    add_tokenizer(writer, vocab, METADATA)
    for name, tensor in text_tensors(model):
        writer.add_tensor(name, _np(tensor))
    gguf_write.finish(writer)


def _write_mmproj(path: Path, model: DemoModel, seed: int) -> None:
    cfg = model.cfg
    writer = gguf_write.new_writer(path, "clip", GeneratorStamp(EXPORT_VERSION, "mmproj", PRESET, seed))
    writer.add_name(f"{NAME}-mmproj")
    writer.add_description("vision tower + mlp projector of the StageLens demo model")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_image_size(cfg.image_size)
    writer.add_vision_patch_size(cfg.patch_size)
    writer.add_vision_embedding_length(cfg.v_embd)
    writer.add_vision_feed_forward_length(cfg.v_ff)
    writer.add_vision_block_count(cfg.v_layers)
    # the output of the last block is the feature layer: clip.cpp runs them all (gguf-py has no helper yet)
    writer.add_array(FEATURE_LAYER_KEY, [cfg.v_layers])
    writer.add_vision_head_count(cfg.v_heads)
    writer.add_vision_projection_dim(cfg.n_embd)
    writer.add_vision_attention_layernorm_eps(VISION_EPS)
    writer.add_vision_image_mean(list(IMAGE_MEAN))
    writer.add_vision_image_std(list(IMAGE_STD))
    writer.add_vision_use_gelu(True)
    for name, tensor in vision_tensors(model):
        writer.add_tensor(name, _np(tensor))
    gguf_write.finish(writer)


# ------------------------------------------------------------------------------------ read back


def _fields(reader: gguf.GGUFReader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in reader.fields.items():
        out[key] = field.contents()
    return out


def load_gguf(text_path: Path, mmproj_path: Path) -> tuple[DemoModel, Vocab]:
    """The PyTorch model and tokenizer stored in an exported pair of GGUF files."""
    text, vision = gguf.GGUFReader(text_path), gguf.GGUFReader(mmproj_path)
    tf, vf = _fields(text), _fields(vision)
    tokens = list(tf["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ")) for m in tf["tokenizer.ggml.merges"]]
    cfg = ModelConfig(
        vocab_size=len(tokens),
        image_size=int(vf["clip.vision.image_size"]),
        patch_size=int(vf["clip.vision.patch_size"]),
        v_embd=int(vf["clip.vision.embedding_length"]),
        v_layers=int(vf["clip.vision.block_count"]),
        v_heads=int(vf["clip.vision.attention.head_count"]),
        v_ff=int(vf["clip.vision.feed_forward_length"]),
        n_embd=int(tf["llama.embedding_length"]),
        n_layers=int(tf["llama.block_count"]),
        n_heads=int(tf["llama.attention.head_count"]),
        n_kv_heads=int(tf["llama.attention.head_count_kv"]),
        n_ff=int(tf["llama.feed_forward_length"]),
        rope_base=float(tf["llama.rope.freq_base"]),
        n_ctx=int(tf["llama.context_length"]),
    )
    model = DemoModel(cfg)
    arrays = {t.name: np.array(t.data, dtype=np.float32) for r in (text, vision) for t in r.tensors}
    with torch.no_grad():
        for name, tensor in [*text_tensors(model), *vision_tensors(model)]:
            tensor.copy_(torch.from_numpy(arrays[name].reshape(tuple(tensor.shape))))
    return model.eval(), vocab_of(tokens, merges)
