"""The one GGUF writing helper: generator stamps, atomic writes, reuse of current files, libllama quantization.

Every file the project generates starts its metadata with a *stamp* (generator version, kind,
preset and seed). ``ensure_file`` rewrites a file only when its stamp differs from the wanted one,
and always through a hidden temporary file renamed into place, so an interrupted write never
leaves a half file under the final name. Reading stamps uses the product's GGUF header reader.
"""

from __future__ import annotations

import ctypes
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf

from stagelens.models.gguf_file import ModelFileError, read_gguf_header

__all__ = [
    "STAMP_PREFIX",
    "GeneratorStamp",
    "WriteFile",
    "ensure_file",
    "finish",
    "is_current",
    "new_writer",
    "quantized",
    "temp_path",
    "write_atomically",
]

STAMP_PREFIX = "stagelens.testmodel"

WriteFile = Callable[[Path], None]


@dataclass(frozen=True)
class GeneratorStamp:
    """Who made a file and from what: the same stamp always means the same bytes."""

    version: int  # bump whenever the bytes written for a given (kind, preset, seed) change
    kind: str  # "text" | "mmproj"
    preset: str
    seed: int

    def as_kv(self) -> dict[str, object]:
        return {
            f"{STAMP_PREFIX}.version": self.version,
            f"{STAMP_PREFIX}.kind": self.kind,
            f"{STAMP_PREFIX}.preset": self.preset,
            f"{STAMP_PREFIX}.seed": self.seed,
        }

    def add_to(self, writer: gguf.GGUFWriter) -> None:
        writer.add_uint32(f"{STAMP_PREFIX}.version", self.version)
        writer.add_string(f"{STAMP_PREFIX}.kind", self.kind)
        writer.add_string(f"{STAMP_PREFIX}.preset", self.preset)
        writer.add_uint64(f"{STAMP_PREFIX}.seed", self.seed)


def new_writer(path: Path, arch: str, stamp: GeneratorStamp) -> gguf.GGUFWriter:
    """A GGUF writer for ``arch`` whose first metadata is the stamp."""
    writer = gguf.GGUFWriter(path, arch)
    stamp.add_to(writer)
    return writer


def finish(writer: gguf.GGUFWriter) -> None:
    """Write header, metadata and tensors, and close the file."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def is_current(path: Path, stamp: GeneratorStamp) -> bool:
    """Whether ``path`` is a complete GGUF file carrying exactly this stamp."""
    if not path.is_file():
        return False
    try:
        header = read_gguf_header(path)
    except ModelFileError:
        return False  # unreadable, cut or not a GGUF: regenerate it
    return {key: header.get(key) for key in stamp.as_kv()} == stamp.as_kv()


def ensure_file(final: Path, stamp: GeneratorStamp, write: WriteFile) -> bool:
    """Write ``final`` with ``write`` unless it already carries ``stamp``; True when it was written."""
    if is_current(final, stamp):
        return False
    write_atomically(final, write)
    return True


def write_atomically(final: Path, write: WriteFile) -> None:
    """Run ``write(tmp)`` on a hidden temp file next to ``final``, then rename it into place."""
    tmp = temp_path(final, ".partial")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def temp_path(final: Path, suffix: str) -> Path:
    # Not tempfile.mkstemp: its 0600 mode would carry over to the final file.
    return final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def quantized(write: WriteFile, ftype: int, output_tensor_type: int | None = None) -> WriteFile:
    """A writer that runs ``write`` into a temp file and quantizes it into the target with libllama.

    ``ftype`` is a ``LLAMA_FTYPE_*`` value; ``output_tensor_type`` a ``GGML_TYPE_*`` for output.weight
    (None: libllama's choice, which for a head whose width is not a multiple of 256 falls back to Q8_0).
    """

    def write_and_quantize(target: Path) -> None:
        unquantized = temp_path(target, ".unquantized")
        try:
            write(unquantized)
            _quantize(unquantized, target, ftype, output_tensor_type)
        finally:
            unquantized.unlink(missing_ok=True)

    return write_and_quantize


def _quantize(src: Path, dst: Path, ftype: int, output_tensor_type: int | None) -> None:
    """Quantize with libllama's own quantizer (what llama-quantize does)."""
    import llama_cpp  # deferred: loads libllama, only quantized presets need it

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    if output_tensor_type is not None:
        params.output_tensor_type = output_tensor_type
    params.nthread = 0  # all hardware threads; the result does not depend on it
    status = llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(dst), ctypes.byref(params))
    if status != 0:
        raise RuntimeError(f"llama_model_quantize failed ({status}) for {src}")
