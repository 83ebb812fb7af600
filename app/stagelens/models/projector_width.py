"""The width of the embeddings a projector feeds the text model, computed from its tensors the way
the pinned llama.cpp does (tools/mtmd/clip.cpp, clip_n_mmproj_embd), and the width the text model
takes (llama_model_n_embd_inp: n_embd, times 1 + deepstack layers for Qwen3-VL).

``clip.vision.projection_dim`` is not that width: LLaVA 1.6's legacy converter writes CLIP's own
projection (768) there, not the language model's 4096, and libmtmd never reads it for the check.
"""

from __future__ import annotations

from stagelens.models.gguf_file import GGUFHeader

# projector type -> (tensor, GGUF dimension holding the width), as clip.cpp names them per type
_BY_TYPE: dict[str, tuple[str, int]] = {
    "mlp": ("mm.2.weight", 1),
    "pixtral": ("mm.2.weight", 1),
    "lightonocr": ("mm.2.weight", 1),
    "dots_ocr": ("mm.2.weight", 1),
    "kimivl": ("mm.2.weight", 1),
    "paddleocr": ("mm.2.weight", 1),
    "lfm2": ("mm.2.weight", 1),
    "ldpv2": ("mm.model.peg.0.bias", 0),
    "resampler": ("resampler.proj.weight", 0),
    "qwen2vl_merger": ("mm.2.bias", 0),
    "qwen2.5vl_merger": ("mm.2.bias", 0),
    "qwen3vl_merger": ("mm.2.bias", 0),  # times 1 + deepstack layers
    "gemma3": ("mm.input_projection.weight", 0),
    "idefics3": ("mm.model.fc.weight", 1),
    "internvl": ("mm.model.mlp.3.weight", 1),
}
# Projectors of unknown type: the last linear weight they may end in (GGUF lists [in, out]).
_FALLBACK = (("mm.2.weight", 1), ("mm.model.fc.weight", 1), ("mm.input_projection.weight", 0), ("mm.fc.weight", 1))


def _positive(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def projector_type(header: GGUFHeader) -> str | None:
    for key in ("clip.projector_type", "clip.vision.projector_type"):
        value = header.get(key)
        if isinstance(value, str) and value:
            return value
    if header.get("clip.has_llava_projector") is True:
        return "mlp"
    return None


def _deepstack_layers(header: GGUFHeader) -> int:
    """clip.cpp counts the layers that have deepstack tensors."""
    layers = {t.name.split(".")[2] for t in header.tensors if t.name.startswith("v.deepstack.")}
    return len(layers)


def _width(header: GGUFHeader, tensor: str, dim: int) -> int | None:
    info = header.tensor(tensor)
    if info is None or len(info.shape) <= dim:
        return None
    return info.shape[dim]


def projector_output_width(header: GGUFHeader) -> int | None:
    """What libmtmd compares with the text model's input width; None when it cannot be told."""
    kind = projector_type(header)
    if kind == "mlp" and header.tensor("mm.3.weight") is not None:  # Yi-style LLaVA: clip.cpp's mlp_norm
        return _width(header, "mm.3.bias", 0)
    if kind in _BY_TYPE:
        width = _width(header, *_BY_TYPE[kind])
        if width is not None and kind == "qwen3vl_merger":
            width *= 1 + _deepstack_layers(header)
        if width is not None:
            return width
    stated = _positive(header.get("clip.vision.projection_dim"))
    if stated:
        return stated
    for tensor, dim in _FALLBACK:
        width = _width(header, tensor, dim)
        if width is not None:
            return width
    return None


def text_input_width(header: GGUFHeader) -> int | None:
    """The width of the embeddings the text model takes in (llama_model_n_embd_inp)."""
    arch = header.architecture
    if not arch:
        return None
    n_embd = _positive(header.get(f"{arch}.embedding_length"))
    if n_embd is None:
        return None
    return n_embd * (1 + (_positive(header.get(f"{arch}.n_deepstack_layers")) or 0))
