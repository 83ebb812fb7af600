"""Checks on GGUF files before handing them to llama.cpp, which would
otherwise fail with a vague message (or not at all, for a mismatched pair)."""

from __future__ import annotations

from pathlib import Path

import gguf

from stagelens.engine.native import ModelLoadError, NoVisionError

GGUF_MAGIC = b"GGUF"


class ModelMismatchError(ModelLoadError):
    """The projector does not fit the text model."""


def _reader(path: str | Path, role: str) -> gguf.GGUFReader:
    p = Path(path)
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read the {role} {p}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"the {role} {p.name} is not a GGUF file")
    try:
        return gguf.GGUFReader(p)
    except Exception as exc:  # the reader raises ValueError, struct errors, IndexError...
        raise ModelLoadError(f"the {role} {p.name} is truncated or corrupt ({exc})") from exc


def _value(reader: gguf.GGUFReader, key: str):
    field = reader.get_field(key)
    return None if field is None else field.contents()


def embedding_size(reader: gguf.GGUFReader) -> int | None:
    arch = _value(reader, "general.architecture")
    return _value(reader, f"{arch}.embedding_length") if arch else None


def projector_output_size(reader: gguf.GGUFReader) -> int | None:
    """The width of the embeddings the projector feeds the text model."""
    value = _value(reader, "clip.vision.projection_dim")
    if value:
        return int(value)
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    for name in ("mm.2.weight", "mm.model.fc.weight", "mm.input_projection.weight", "mm.fc.weight"):
        if name in shapes:
            # GGUF lists dimensions fastest-first: [in, out] for a linear weight
            return shapes[name][-1] if name != "mm.input_projection.weight" else shapes[name][0]
    return None


def check_projector_fits(model: str | Path, mmproj: str | Path) -> None:
    text = _reader(model, "text model")
    proj = _reader(mmproj, "vision projector")
    if _value(text, "general.architecture") == "clip":
        raise ModelLoadError(f"{Path(model).name} is a vision projector, not a text model (swap the two files?)")
    if _value(proj, "general.architecture") != "clip":
        raise NoVisionError(f"{Path(mmproj).name} is not a vision projector (mmproj) file")
    if _value(proj, "clip.has_vision_encoder") is False:
        raise NoVisionError(f"{Path(mmproj).name} has no vision encoder (audio-only projector?)")
    n_embd, n_proj = embedding_size(text), projector_output_size(proj)
    if n_embd and n_proj and n_embd != n_proj:
        raise ModelMismatchError(
            f"{Path(mmproj).name} projects to {n_proj}-wide embeddings but {Path(model).name} "
            f"expects {n_embd}: this projector belongs to another model"
        )
