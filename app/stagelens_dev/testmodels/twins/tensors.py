"""The twins' random weights: each family's tensor names and shapes (numpy layout: a GGUF tensor
{ne0, ne1} is an array (ne1, ne0)), from a seeded generator so the same seed gives the same bytes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stagelens_dev.testmodels.twins.families import TextSpec, VisionSpec

Array = np.ndarray
TensorStream = Iterator[tuple[str, Array]]


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> Array:
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)


def text_tensors(t: TextSpec, n_vocab: int, rng: np.random.Generator) -> TensorStream:
    """(name, array) in numpy layout: GGUF ne (ne0, ne1) is array shape (ne1, ne0)."""
    d, hd = t.n_embd, t.head_dim
    nq, nkv = t.n_head * hd, t.n_head_kv * hd
    ones_d = np.ones(d, np.float32)
    yield "token_embd.weight", _normal(rng, (n_vocab, d), 1.0)
    for i in range(t.n_layer):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", ones_d
        yield p + "attn_q.weight", _normal(rng, (nq, d), d**-0.5)
        yield p + "attn_k.weight", _normal(rng, (nkv, d), d**-0.5)
        yield p + "attn_v.weight", _normal(rng, (nkv, d), d**-0.5)
        if t.qkv_bias:
            yield p + "attn_q.bias", _normal(rng, (nq,), 0.02)
            yield p + "attn_k.bias", _normal(rng, (nkv,), 0.02)
            yield p + "attn_v.bias", _normal(rng, (nkv,), 0.02)
        if t.qk_norm:
            yield p + "attn_q_norm.weight", np.ones(hd, np.float32)
            yield p + "attn_k_norm.weight", np.ones(hd, np.float32)
        yield p + "attn_output.weight", _normal(rng, (d, nq), nq**-0.5)
        if t.post_norms:
            yield p + "post_attention_norm.weight", ones_d
        yield p + "ffn_norm.weight", ones_d
        yield p + "ffn_gate.weight", _normal(rng, (t.n_ff, d), d**-0.5)
        yield p + "ffn_up.weight", _normal(rng, (t.n_ff, d), d**-0.5)
        yield p + "ffn_down.weight", _normal(rng, (d, t.n_ff), t.n_ff**-0.5)
        if t.post_norms:
            yield p + "post_ffw_norm.weight", ones_d
    yield "output_norm.weight", ones_d
    # untied, scaled head: logits ~ N(0, logit_std) for an RMS-normed input
    yield "output.weight", _normal(rng, (n_vocab, d), t.logit_std * d**-0.5)


def _extra_int(v: VisionSpec, key: str) -> int:
    kind, value = v.extra_kv[key]
    assert kind == "u32" and isinstance(value, int)
    return value


def _deepstack_layers(v: VisionSpec) -> list[int]:
    kind, flags = v.extra_kv.get("clip.vision.is_deepstack_layers", ("bool_arr", []))
    assert kind == "bool_arr" and isinstance(flags, list)
    return [i for i, flag in enumerate(flags) if flag]


def vision_tensors(v: VisionSpec, n_text: int, rng: np.random.Generator) -> TensorStream:
    """The projector's tensors for a text model ``n_text`` wide."""
    d, p, ff = v.n_embd, v.patch_size, v.n_ff
    side = v.image_size // p
    proj = v.projector

    def zeros(n: int) -> Array:
        return np.zeros(n, np.float32)

    def ones(n: int) -> Array:
        return np.ones(n, np.float32)

    def W(n_out: int, n_in: int) -> Array:  # noqa: N802
        return _normal(rng, (n_out, n_in), n_in**-0.5)

    def b(n: int) -> Array:
        return _normal(rng, (n,), 0.02)

    rms_norm = proj == "qwen2.5vl_merger"  # Qwen2.5-VL's ViT uses RMSNorm (weights only)
    legacy_swapped_ffn = proj == "mlp"  # legacy llava converter: fc1 -> "ffn_down", fc2 -> "ffn_up"

    # --- patch embedding
    if proj in ("qwen2.5vl_merger", "qwen3vl_merger"):
        # Conv3D with temporal patch 2, split into two Conv2Ds (converter: weight, weight.1)
        yield "v.patch_embd.weight", _normal(rng, (d, 3, p, p), (6 * p * p) ** -0.5)
        yield "v.patch_embd.weight.1", _normal(rng, (d, 3, p, p), (6 * p * p) ** -0.5)
        if proj == "qwen3vl_merger":
            yield "v.patch_embd.bias", b(d)
    else:
        yield "v.patch_embd.weight", _normal(rng, (d, 3, p, p), (3 * p * p) ** -0.5)
        if proj != "mlp":  # CLIP (LLaVA) has no patch bias
            yield "v.patch_embd.bias", b(d)

    # --- class / position embeddings, pre-norm
    if proj in ("mlp", "internvl"):
        yield "v.class_embd", _normal(rng, (d,), 1.0)
        yield "v.position_embd.weight", _normal(rng, (side * side + 1, d), 0.02)
    elif proj == "qwen3vl_merger":
        yield "v.position_embd.weight", _normal(rng, (side * side, d), 0.02)  # 48x48 for 768/16
    elif proj in ("idefics3", "gemma3"):
        yield "v.position_embd.weight", _normal(rng, (side * side, d), 0.02)
    if proj == "mlp":
        yield "v.pre_ln.weight", ones(d)
        yield "v.pre_ln.bias", zeros(d)

    # --- blocks
    deepstack = _deepstack_layers(v)
    for i in range(v.n_layer):
        q = f"v.blk.{i}."
        yield q + "ln1.weight", ones(d)
        if not rms_norm:
            yield q + "ln1.bias", zeros(d)
        if proj == "qwen3vl_merger":
            yield q + "attn_qkv.weight", W(3 * d, d)
            yield q + "attn_qkv.bias", b(3 * d)
        else:
            for name in ("attn_q", "attn_k", "attn_v"):
                yield q + f"{name}.weight", W(d, d)
                yield q + f"{name}.bias", b(d)
        yield q + "attn_out.weight", W(d, d)
        yield q + "attn_out.bias", b(d)
        if proj == "internvl":
            yield q + "ls1.weight", np.full(d, 0.5, np.float32)
            yield q + "ls2.weight", np.full(d, 0.5, np.float32)
        yield q + "ln2.weight", ones(d)
        if not rms_norm:
            yield q + "ln2.bias", zeros(d)
        if legacy_swapped_ffn:
            yield q + "ffn_down.weight", W(ff, d)  # really fc1 (d -> ff); clip.cpp swaps it back
            yield q + "ffn_down.bias", b(ff)
            yield q + "ffn_up.weight", W(d, ff)  # really fc2
            yield q + "ffn_up.bias", b(d)
        else:
            if proj == "qwen2.5vl_merger":
                yield q + "ffn_gate.weight", W(ff, d)
                yield q + "ffn_gate.bias", b(ff)
            yield q + "ffn_up.weight", W(ff, d)
            yield q + "ffn_up.bias", b(ff)
            yield q + "ffn_down.weight", W(d, ff)
            yield q + "ffn_down.bias", b(d)

    # --- post-norm
    if proj in ("idefics3", "gemma3", "qwen3vl_merger"):
        yield "v.post_ln.weight", ones(d)
        yield "v.post_ln.bias", zeros(d)
    elif proj == "qwen2.5vl_merger":
        yield "v.post_ln.weight", ones(d)  # merger.ln_q (RMSNorm)

    # --- projector
    if proj == "idefics3":
        s = _extra_int(v, "clip.vision.projector.scale_factor")
        yield "mm.model.fc.weight", W(n_text, d * s * s)
    elif proj == "gemma3":
        yield "mm.input_projection.weight", _normal(rng, (d, n_text), d**-0.5)  # ne = (n_text, d)
        yield "mm.soft_emb_norm.weight", ones(d)
    elif proj in ("qwen2.5vl_merger", "qwen3vl_merger"):
        h = 4 * d  # spatial merge 2x2
        yield "mm.0.weight", W(h, h)
        yield "mm.0.bias", b(h)
        yield "mm.2.weight", W(n_text, h)
        yield "mm.2.bias", b(n_text)
        for il in deepstack:
            yield f"v.deepstack.{il}.norm.weight", ones(h)
            yield f"v.deepstack.{il}.norm.bias", zeros(h)
            yield f"v.deepstack.{il}.fc1.weight", W(h, h)
            yield f"v.deepstack.{il}.fc1.bias", b(h)
            yield f"v.deepstack.{il}.fc2.weight", W(n_text, h)
            yield f"v.deepstack.{il}.fc2.bias", b(n_text)
    elif proj == "internvl":
        s = _extra_int(v, "clip.vision.projector.scale_factor")
        h = d * s * s
        yield "mm.model.mlp.0.weight", ones(h)  # LayerNorm
        yield "mm.model.mlp.0.bias", zeros(h)
        yield "mm.model.mlp.1.weight", W(n_text, h)
        yield "mm.model.mlp.1.bias", b(n_text)
        yield "mm.model.mlp.3.weight", W(n_text, n_text)
        yield "mm.model.mlp.3.bias", b(n_text)
    elif proj == "mlp":
        yield "mm.0.weight", W(n_text, d)
        yield "mm.0.bias", b(n_text)
        yield "mm.2.weight", W(n_text, n_text)
        yield "mm.2.bias", b(n_text)
        yield "model.image_newline", _normal(rng, (n_text,), 1.0)  # written by llava_surgery_v2, unused by clip
    else:
        raise AssertionError(proj)
