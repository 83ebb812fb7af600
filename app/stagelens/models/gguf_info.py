"""What a GGUF file says about itself: role (text model or vision projector), architecture,
size, quantization, context, chat template, vision capability and projector width.

Every way a file can be unusable gets its own exception with a one-sentence message."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from gguf.constants import LlamaFileType

from stagelens.models.gguf_file import (
    CorruptGGUFError,
    GGUFHeader,
    ModelFileError,
    NotGGUFError,
    TruncatedGGUFError,
    UnreadableFileError,
    UnsupportedGGUFError,
    read_gguf_header,
)
from stagelens.models.projector_width import projector_output_width

__all__ = [
    "CorruptGGUFError",
    "GGUFInfo",
    "ModelFileError",
    "NotGGUFError",
    "TruncatedGGUFError",
    "UnreadableFileError",
    "UnsupportedGGUFError",
    "describe",
    "embedding_size",
    "human_bytes",
    "human_count",
    "projector_output_size",
    "read_gguf_info",
]


@dataclass(frozen=True)
class GGUFInfo:
    path: str
    file_size: int
    role: str  # "text" | "mmproj"
    architecture: str
    name: str | None
    n_params: int
    quantization: str
    context_length: int | None
    embedding_length: int | None  # text models: the width image embeddings must have
    n_layer: int | None
    n_kv_head: int | None
    head_dim: int | None
    has_chat_template: bool
    has_vision: bool  # mmproj: it has a vision encoder; text: always False
    projector_type: str | None
    projection_dim: int | None  # mmproj: the width of the embeddings it produces

    @property
    def kv_bytes_per_token(self) -> int | None:
        """f16 K and V for every layer, the llama.cpp default cache type."""
        if not (self.n_layer and self.n_kv_head and self.head_dim):
            return None
        return 2 * self.n_layer * self.n_kv_head * self.head_dim * 2

    def to_json(self) -> dict:
        data = asdict(self)
        data["kv_bytes_per_token"] = self.kv_bytes_per_token
        return data


def _int(value: object) -> int | None:
    """A positive whole number from metadata, or None (absent, zero, or of another type)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def embedding_size(header: GGUFHeader) -> int | None:
    """The width of the text model's embeddings (what a projector must produce)."""
    arch = header.architecture
    return _int(header.get(f"{arch}.embedding_length")) if arch else None


def projector_output_size(header: GGUFHeader) -> int | None:
    """The width of the embeddings the projector feeds the text model (computed from its tensors, as
    llama.cpp does: see models/projector_width.py)."""
    return projector_output_width(header)


def _quantization(header: GGUFHeader) -> str:
    file_type = header.get("general.file_type")
    if isinstance(file_type, int):
        try:
            return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    # no file type recorded (typical for mmproj files): name the type holding most weights
    weights: Counter[str] = Counter()
    for tensor in header.tensors:
        weights[tensor.type_name] += tensor.n_elements
    return weights.most_common(1)[0][0] if weights else "unknown"


def _text(header: GGUFHeader, key: str) -> str | None:
    value = header.get(key)
    return value if isinstance(value, str) and value else None


def _head_count(value: object) -> int | None:
    """A head count; per-layer counts (some hybrids) give the largest, which bounds the cache."""
    if isinstance(value, list):
        return max((n for n in map(_int, value) if n), default=None)
    return _int(value)


def read_gguf_info(path: str | Path) -> GGUFInfo:
    header = read_gguf_header(path)
    arch = header.architecture or "unknown"
    if arch == "clip":
        return _projector_info(header)
    n_embd = embedding_size(header)
    raw_heads = header.get(f"{arch}.attention.head_count")
    n_kv = _head_count(header.get(f"{arch}.attention.head_count_kv")) or _head_count(raw_heads)
    head_dim = _int(header.get(f"{arch}.attention.key_length"))
    n_head = _int(raw_heads)  # None for per-layer counts: no single head width to derive
    if not head_dim and n_embd and n_head:
        head_dim = n_embd // n_head
    return GGUFInfo(
        path=str(header.path),
        file_size=header.file_size,
        role="text",
        architecture=arch,
        name=_text(header, "general.name"),
        n_params=sum(t.n_elements for t in header.tensors),
        quantization=_quantization(header),
        context_length=_int(header.get(f"{arch}.context_length")),
        embedding_length=n_embd,
        n_layer=_int(header.get(f"{arch}.block_count")),
        n_kv_head=n_kv,
        head_dim=head_dim,
        has_chat_template=bool(_text(header, "tokenizer.chat_template")),
        has_vision=False,
        projector_type=None,
        projection_dim=None,
    )


def _projector_info(header: GGUFHeader) -> GGUFInfo:
    stated_vision = header.get("clip.has_vision_encoder")
    has_vision = (
        bool(stated_vision) if stated_vision is not None else any(t.name.startswith("v.") for t in header.tensors)
    )
    return GGUFInfo(
        path=str(header.path),
        file_size=header.file_size,
        role="mmproj",
        architecture="clip",
        name=_text(header, "general.name"),
        n_params=sum(t.n_elements for t in header.tensors),
        quantization=_quantization(header),
        context_length=None,
        embedding_length=None,
        n_layer=None,
        n_kv_head=None,
        head_dim=None,
        has_chat_template=False,
        has_vision=has_vision,
        projector_type=_text(header, "clip.projector_type") or _text(header, "clip.vision.projector_type"),
        projection_dim=projector_output_size(header),
    )


def describe(info: GGUFInfo) -> list[tuple[str, str]]:
    """Label/value rows for people (CLI `models info`, the Models dialog)."""
    rows = [
        ("file", Path(info.path).name),
        ("role", "vision projector (mmproj)" if info.role == "mmproj" else "text model"),
        ("architecture", info.architecture),
        ("parameters", human_count(info.n_params)),
        ("quantization", info.quantization),
        ("size", human_bytes(info.file_size)),
    ]
    if info.role == "text":
        rows += [
            ("context length", str(info.context_length) if info.context_length else "unknown"),
            ("embedding width", str(info.embedding_length) if info.embedding_length else "unknown"),
            ("chat template", "yes" if info.has_chat_template else "no (a generic one will be used)"),
            ("vision", "needs a matching mmproj file"),
        ]
    else:
        rows += [
            ("vision encoder", "yes" if info.has_vision else "no (audio-only projector?)"),
            ("projector type", info.projector_type or "unknown"),
            ("projects to", f"{info.projection_dim}-wide embeddings" if info.projection_dim else "unknown"),
        ]
    return rows


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return str(n)
