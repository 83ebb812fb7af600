"""Checks on GGUF files before handing them to llama.cpp, which would
otherwise fail with a vague message (or not at all, for a mismatched pair)."""

from __future__ import annotations

from pathlib import Path

from stagelens.engine.native import ModelLoadError, NoVisionError
from stagelens.models.gguf_file import (
    GGUFHeader,
    ModelFileError,
    NotGGUFError,
    UnreadableFileError,
    read_gguf_header,
)
from stagelens.models.projector_width import projector_output_width, text_input_width


class ModelMismatchError(ModelLoadError):
    """The projector does not fit the text model."""


def read_header(path: str | Path, role: str) -> GGUFHeader:
    """The header of a model file, or a ModelLoadError that names the file's role."""
    p = Path(path)
    try:
        return read_gguf_header(p)
    except UnreadableFileError as exc:
        raise ModelLoadError(f"cannot read the {role}: {exc}") from exc
    except NotGGUFError as exc:
        raise ModelLoadError(f"the {role} {p.name} is not a GGUF file") from exc
    except ModelFileError as exc:  # truncated, corrupt, unsupported: the message starts with the file name
        raise ModelLoadError(f"the {role} {exc}") from exc


def check_projector_fits(model: str | Path, mmproj: str | Path) -> None:
    check_headers_fit(read_header(model, "text model"), read_header(mmproj, "vision projector"))


def check_headers_fit(text: GGUFHeader, proj: GGUFHeader) -> None:
    """Refuse a text model that is a projector, a projector that is not one, and a pair of different widths."""
    if text.architecture == "clip":
        raise ModelLoadError(f"{text.path.name} is a vision projector, not a text model (swap the two files?)")
    if proj.architecture != "clip":
        raise NoVisionError(f"{proj.path.name} is not a vision projector (mmproj) file")
    if proj.get("clip.has_vision_encoder") is False:
        raise NoVisionError(f"{proj.path.name} has no vision encoder (audio-only projector?)")
    n_embd, n_proj = text_input_width(text), projector_output_width(proj)
    if n_embd and n_proj and n_embd != n_proj:
        raise ModelMismatchError(
            f"{proj.path.name} projects to {n_proj}-wide embeddings but {text.path.name} "
            f"expects {n_embd}: this projector belongs to another model"
        )
