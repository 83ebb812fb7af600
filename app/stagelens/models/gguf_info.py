"""What a GGUF file says about itself: role (text model or vision projector), architecture,
size, quantization, context, chat template, vision capability and projector width.

Every way a file can be unusable gets its own exception with a one-sentence message."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import gguf

from stagelens.engine.compat import embedding_size, projector_output_size

GGUF_MAGIC = b"GGUF"


class ModelFileError(ValueError):
    """A model file that cannot be used; str() is a one-sentence user message."""


class NotGGUFError(ModelFileError):
    pass


class TruncatedGGUFError(ModelFileError):
    pass


class UnreadableFileError(ModelFileError):
    pass


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


def open_gguf(path: str | Path) -> gguf.GGUFReader:
    """Open a GGUF, telling a missing file, a non-GGUF file and a truncated one apart."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
        size = p.stat().st_size
    except FileNotFoundError:
        raise UnreadableFileError(f"{p} does not exist") from None
    except IsADirectoryError:
        raise UnreadableFileError(f"{p} is a folder, not a GGUF file") from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {p}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise NotGGUFError(f"{p.name} is not a GGUF model file")
    try:
        reader = gguf.GGUFReader(p)
    except Exception as exc:  # the reader raises ValueError, struct errors, IndexError... on cut files
        raise TruncatedGGUFError(f"{p.name} is truncated or corrupt (an interrupted download or copy?)") from exc
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise TruncatedGGUFError(
            f"{p.name} is truncated: its tensors need {end} bytes but the file has {size} (an interrupted download?)"
        )
    return reader


def _value(reader: gguf.GGUFReader, key: str):
    field = reader.get_field(key)
    if field is None:
        return None
    try:
        return field.contents()
    except Exception:  # a field of an unexpected shape: treat as absent rather than fail the whole read
        return None


def _quantization(reader: gguf.GGUFReader) -> str:
    file_type = _value(reader, "general.file_type")
    if file_type is not None:
        try:
            return gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    # no file type recorded (typical for mmproj files): name the type holding most weights
    weights: Counter[str] = Counter()
    for tensor in reader.tensors:
        weights[tensor.tensor_type.name] += int(tensor.n_elements)
    return weights.most_common(1)[0][0] if weights else "unknown"


def read_gguf_info(path: str | Path) -> GGUFInfo:
    reader = open_gguf(path)
    p = Path(path)
    arch = str(_value(reader, "general.architecture") or "unknown")
    is_projector = arch == "clip"
    n_params = sum(int(t.n_elements) for t in reader.tensors)
    if is_projector:
        projector_type = _value(reader, "clip.projector_type") or _value(reader, "clip.vision.projector_type")
        has_vision = _value(reader, "clip.has_vision_encoder")
        has_vision = (
            bool(has_vision) if has_vision is not None else any(t.name.startswith("v.") for t in reader.tensors)
        )
        return GGUFInfo(
            path=str(p),
            file_size=p.stat().st_size,
            role="mmproj",
            architecture=arch,
            name=_value(reader, "general.name"),
            n_params=n_params,
            quantization=_quantization(reader),
            context_length=None,
            embedding_length=None,
            n_layer=None,
            n_kv_head=None,
            head_dim=None,
            has_chat_template=False,
            has_vision=has_vision,
            projector_type=str(projector_type) if projector_type else None,
            projection_dim=projector_output_size(reader),
        )
    n_embd = embedding_size(reader)
    n_head = _value(reader, f"{arch}.attention.head_count")
    n_kv = _value(reader, f"{arch}.attention.head_count_kv") or n_head
    head_dim = _value(reader, f"{arch}.attention.key_length")
    if not head_dim and n_embd and n_head and not isinstance(n_head, list):
        head_dim = int(n_embd) // int(n_head)
    if isinstance(n_kv, list):  # per-layer head counts (some hybrids): the largest bounds the cache
        n_kv = max(n_kv) if n_kv else None
    return GGUFInfo(
        path=str(p),
        file_size=p.stat().st_size,
        role="text",
        architecture=arch,
        name=_value(reader, "general.name"),
        n_params=n_params,
        quantization=_quantization(reader),
        context_length=_value(reader, f"{arch}.context_length"),
        embedding_length=int(n_embd) if n_embd else None,
        n_layer=_value(reader, f"{arch}.block_count"),
        n_kv_head=int(n_kv) if n_kv else None,
        head_dim=int(head_dim) if head_dim else None,
        has_chat_template=bool(_value(reader, "tokenizer.chat_template")),
        has_vision=False,
        projector_type=None,
        projection_dim=None,
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
