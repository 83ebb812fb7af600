"""One row per catalog family: the text model and projector a twin copies, at small widths and depths.

What a twin keeps at its real value: ``general.architecture``, tensor names (and which are present),
every metadata key the pinned llama.cpp's loader reads, the tokenizer kind and special tokens, and the
image geometry (image size, patch size, merge/scale factor, tiling keys), so the number of image
chunks, image tokens and positions per picture are the real model's. Widths (ViT 32, LM 64) and
depths (2-6 layers) are small. Sources: /work/scratch/twins/FAMILIES.md (file:line in the vendored
llama.cpp of llama-cpp-python 0.3.36), summarised per row below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stagelens_dev.testmodels.twins import templates, vocabs

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

# key -> (kind, value), written by the projector writer
ExtraKV = dict[str, tuple[str, object]]


@dataclass(frozen=True)
class TextSpec:
    arch: str  # general.architecture as the family's GGUFs carry it
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int = 16
    n_ff: int = 128
    n_ctx: int = 8192  # context_length written to the file (the family's trained context)
    rope_base: float = 10000.0
    rms_eps: float = 1e-6
    qkv_bias: bool = False
    qk_norm: bool = False
    post_norms: bool = False  # gemma3: post_attention_norm / post_ffw_norm
    rope_sections: tuple[int, ...] | None = None  # M-RoPE (qwen2vl / qwen3vl)
    n_deepstack: int = 0  # qwen3vl
    sliding_window: int | None = None  # gemma3
    write_head_dim: bool = False  # {arch}.attention.key_length / value_length
    write_rope_dim: bool = False  # {arch}.rope.dimension_count (the llama converter writes it)
    write_vocab_size: bool = False  # {arch}.vocab_size (the llama converter writes it)
    logit_std: float = 10.0  # untied output head: clear greedy gaps


@dataclass(frozen=True)
class VisionSpec:
    projector: str  # clip.projector_type
    image_size: int
    patch_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    eps: float
    act: str  # "gelu" | "silu" | "quick_gelu" (the legacy LLaVA converter: neither key true)
    n_embd: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_ff: int = 64
    extra_kv: ExtraKV = field(default_factory=dict)
    # clip.vision.projection_dim as the family's converter writes it; None: the text width. The legacy
    # LLaVA converter writes CLIP's own projection (768 for ViT-L/14, not the LM's 4096): 24 here.
    projection_dim: int | None = None


@dataclass(frozen=True)
class Family:
    key: str  # the twin's name
    catalog: str  # the "family" field of models/catalog.json
    text: TextSpec
    vision: VisionSpec
    vocab: Callable[[], vocabs.TwinVocab]
    typed_content: bool  # its published template reads message content only as a list of parts


def _smolvlm(video: bool) -> Family:
    # llama text + idefics3 projector; preproc_image_size (the processor's longest edge) makes EVERY image
    # 4x4 (SmolVLM, 512 px tiles of 2048) or 4x4 (SmolVLM2, 384 of 1536) tiles + an overview: 17 chunks.
    tile, patch, scale, edge = (384, 14, 3, 1536) if video else (512, 16, 4, 2048)
    return Family(
        key="smolvlm2" if video else "smolvlm",
        catalog="SmolVLM2" if video else "SmolVLM",
        text=TextSpec(
            arch="llama",
            rope_base=130000.0 if video else 100000.0,
            rms_eps=1e-5,
            write_rope_dim=True,
            write_vocab_size=True,
        ),
        vision=VisionSpec(
            projector="idefics3",
            image_size=tile,
            patch_size=patch,
            mean=HALF,
            std=HALF,
            eps=1e-6,
            act="gelu",
            extra_kv={
                "clip.vision.projector.scale_factor": ("u32", scale),
                "clip.vision.preproc_image_size": ("u32", edge),
            },
        ),
        vocab=lambda: vocabs.smolvlm(video, templates.SMOLVLM2 if video else templates.SMOLVLM),
        typed_content=True,
    )


FAMILIES: tuple[Family, ...] = (
    _smolvlm(video=False),
    _smolvlm(video=True),
    # qwen2 text (q/k/v biases) + internvl projector (class token, layer scales, mlp.0/1/3); images over
    # 448 px are tiled (tiles + overview), wrapped in <img>...</img>
    Family(
        key="internvl",
        catalog="InternVL",
        text=TextSpec(arch="qwen2", n_ctx=32768, rope_base=1000000.0, qkv_bias=True),
        vision=VisionSpec(
            projector="internvl",
            image_size=448,
            patch_size=14,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            eps=1e-6,
            act="gelu",
            extra_kv={
                "clip.vision.projector.scale_factor": ("u32", 2),
                "clip.vision.preproc_min_tiles": ("u32", 1),
                "clip.vision.preproc_max_tiles": ("u32", 12),
            },
        ),
        vocab=lambda: vocabs.qwen(
            extra_control=(
                "<img>",
                "</img>",
                "<IMG_CONTEXT>",
                "<quad>",
                "</quad>",
                "<ref>",
                "</ref>",
                "<box>",
                "</box>",
            ),
            template=templates.INTERNVL,
        ),
        typed_content=False,
    ),
    # qwen3vl text (IMROPE sections, deepstack: more layers than deepstack layers, q/k norms) + merger with
    # fused qkv and deepstack taps; dynamic resolution, 2x2 merge
    Family(
        key="qwen3-vl",
        catalog="Qwen3-VL",
        text=TextSpec(
            arch="qwen3vl",
            n_layer=4,
            n_head=2,
            n_head_kv=1,
            head_dim=32,
            n_ctx=262144,
            rope_base=5000000.0,
            qk_norm=True,
            rope_sections=(6, 5, 5, 0),
            n_deepstack=3,
            write_head_dim=True,
        ),
        vision=VisionSpec(
            projector="qwen3vl_merger",
            image_size=768,
            patch_size=16,
            mean=HALF,
            std=HALF,
            eps=1e-6,
            act="gelu",
            n_layer=4,
            extra_kv={
                "clip.vision.spatial_merge_size": ("u32", 2),
                "clip.vision.is_deepstack_layers": ("bool_arr", [True, True, True, False]),
            },
        ),
        vocab=lambda: vocabs.qwen(
            extra_user=("<tool_response>", "</tool_response>", "<think>", "</think>"), template=templates.QWEN3VL
        ),
        typed_content=False,
    ),
    # qwen2vl text (M-RoPE sections, q/k/v biases) + Qwen2.5-VL merger (RMSNorm ViT, gated FFN, windowed
    # attention: n_wa_pattern is required); an image advances max(nx, ny) positions, not its token count
    Family(
        key="qwen2.5-vl",
        catalog="Qwen2.5-VL",
        text=TextSpec(arch="qwen2vl", n_ctx=128000, rope_base=1000000.0, qkv_bias=True, rope_sections=(2, 3, 3, 0)),
        vision=VisionSpec(
            projector="qwen2.5vl_merger",
            image_size=560,
            patch_size=14,
            mean=CLIP_MEAN,
            std=CLIP_STD,
            eps=1e-6,
            act="silu",
            extra_kv={"clip.vision.n_wa_pattern": ("u32", 2)},
        ),
        vocab=lambda: vocabs.qwen(template=templates.QWEN25VL),
        typed_content=False,
    ),
    # gemma3 text (sliding window, pattern 6: layer 5 global; post-norms; q/k norms) + SigLIP pooled to 256
    # tokens whatever the image size, decoded non-causally
    Family(
        key="gemma3",
        catalog="Gemma 3",
        text=TextSpec(
            arch="gemma3",
            n_layer=6,
            n_ctx=131072,
            rope_base=1000000.0,
            qk_norm=True,
            post_norms=True,
            sliding_window=1024,
            write_head_dim=True,
        ),
        vision=VisionSpec(projector="gemma3", image_size=896, patch_size=14, mean=HALF, std=HALF, eps=1e-6, act="gelu"),
        vocab=lambda: vocabs.gemma3(templates.GEMMA3),
        typed_content=False,
    ),
    # llama text + the legacy converter's "mlp" projector: CLIP ViT-L/14-336 with class token and pre-LN,
    # last block dropped, FFN written swapped, anyres grid pinpoints (448 px -> 2x2 grid + overview = 5 chunks)
    Family(
        key="llava-1.6",
        catalog="LLaVA",
        text=TextSpec(
            arch="llama",
            n_ctx=32768,
            rope_base=1000000.0,
            rms_eps=1e-5,
            write_rope_dim=True,
            write_vocab_size=True,
        ),
        vision=VisionSpec(
            projector="mlp",
            image_size=336,
            patch_size=14,
            mean=CLIP_MEAN,
            std=CLIP_STD,
            eps=1e-5,
            act="quick_gelu",
            n_layer=3,
            extra_kv={
                "clip.has_text_encoder": ("bool", False),
                "clip.has_llava_projector": ("bool", True),
                "clip.vision.image_grid_pinpoints": ("i32_arr", [336, 672, 672, 336, 672, 672, 1008, 336, 336, 1008]),
                "clip.vision.image_crop_resolution": ("u32", 224),
                "clip.vision.image_aspect_ratio": ("str", "anyres"),
                "clip.vision.image_split_resolution": ("u32", 224),
                "clip.vision.mm_patch_merge_type": ("str", "spatial_unpad"),
                "clip.vision.mm_projector_type": ("str", "mlp2x_gelu"),
            },
            projection_dim=24,
        ),
        vocab=lambda: vocabs.mistral(templates.LLAVA_MISTRAL),
        typed_content=False,
    ),
)

BY_KEY: dict[str, Family] = {f.key: f for f in FAMILIES}
BY_CATALOG: dict[str, Family] = {f.catalog: f for f in FAMILIES}


def family_named(name: str) -> Family:
    """A family by its twin key ("qwen2.5-vl") or its catalog name ("Qwen2.5-VL")."""
    found = BY_KEY.get(name) or BY_CATALOG.get(name)
    if found is None:
        raise ValueError(
            f"no twin for family {name!r}; twins: {', '.join(BY_KEY)} (catalog names: {', '.join(BY_CATALOG)})"
        )
    return found
