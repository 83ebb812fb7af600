"""The one GGUF header reader: metadata (key/value pairs) and tensor infos, straight from the file.

It does not load libllama and does not map tensor data into numpy arrays: reading the header of a
427 MB model takes milliseconds. Every read is bounds-checked, so a cut, damaged or foreign file
raises a `ModelFileError` whose str() is one sentence for the user (it starts with the file name).
Layout (GGUF v2/v3, little-endian): magic, version u32, n_tensors u64, n_kv u64, the KV pairs,
the tensor infos, padding to ``general.alignment``, then the tensor data.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

__all__ = [
    "CorruptGGUFError",
    "GGUFArray",
    "GGUFHeader",
    "ModelFileError",
    "NotGGUFError",
    "TensorInfo",
    "TruncatedGGUFError",
    "UnreadableFileError",
    "UnsupportedGGUFError",
    "read_gguf_header",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS

_SCALARS: dict[int, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
    GGUFValueType.BOOL: struct.Struct("<?"),
}
_U32 = _SCALARS[GGUFValueType.UINT32]
_U64 = _SCALARS[GGUFValueType.UINT64]
_HEADER = struct.Struct("<4sIQQ")

Scalar = int | float | bool | str


class ModelFileError(ValueError):
    """A model file that cannot be used; str() is a one-sentence user message."""


class NotGGUFError(ModelFileError):
    pass


class UnsupportedGGUFError(ModelFileError):
    """A GGUF file of a version or byte order llama.cpp does not read."""


class TruncatedGGUFError(ModelFileError):
    pass


class CorruptGGUFError(ModelFileError):
    """The bytes are there but do not describe a valid GGUF file."""


class UnreadableFileError(ModelFileError):
    pass


@dataclass(frozen=True)
class GGUFArray:
    """An array value, decoded on demand (a vocabulary holds ~150,000 strings nobody may ask for)."""

    item_type: int
    count: int
    raw: bytes = field(repr=False)

    def values(self) -> list[Scalar]:
        if self.item_type in _SCALARS:
            code = _SCALARS[self.item_type].format[1:]
            return list(struct.unpack(f"<{self.count}{code}", self.raw))
        if self.item_type == GGUFValueType.STRING:
            out: list[Scalar] = []
            pos = 0
            for _ in range(self.count):
                (n,) = _U64.unpack_from(self.raw, pos)
                out.append(self.raw[pos + 8 : pos + 8 + n].decode("utf-8", "replace"))
                pos += 8 + n
            return out
        raise TypeError(f"arrays of GGUF type {self.item_type} are not decoded")  # nested arrays: never used


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension (ne0) first
    type_id: int
    offset: int  # absolute position of the tensor's data in the file

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        try:
            return GGMLQuantizationType(self.type_id).name
        except ValueError:
            return f"type {self.type_id}"

    @property
    def n_bytes(self) -> int | None:
        """Size of the data; None for a tensor type this gguf package does not know."""
        sizes = _block_sizes(self.type_id)
        if sizes is None:
            return None
        block, type_size = sizes
        return self.n_elements // block * type_size


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    file_size: int
    fields: Mapping[str, Scalar | GGUFArray]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int  # where the tensor data section starts

    def get(self, key: str, default: object = None) -> object:
        """The value of a key (arrays as lists), or ``default`` when the file has no such key."""
        value = self.fields.get(key)
        if value is None:
            return default
        return value.values() if isinstance(value, GGUFArray) else value

    @property
    def architecture(self) -> str | None:
        arch = self.fields.get("general.architecture")
        return arch if isinstance(arch, str) else None

    def tensor(self, name: str) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)


def _block_sizes(type_id: int) -> tuple[int, int] | None:
    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
    except (ValueError, KeyError):
        return None


class _Truncated(Exception):
    def __init__(self, where: str) -> None:
        self.where = where


class _Corrupt(Exception):
    pass


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: mmap.mmap | bytes, size: int) -> None:
        self.buf, self.size, self.pos = buf, size, 0
        self.where = "header"

    def take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise _Truncated(self.where)
        self.pos = start + n
        return start

    def scalar(self, fmt: struct.Struct) -> Scalar:
        return fmt.unpack_from(self.buf, self.take(fmt.size))[0]

    def raw_string(self) -> bytes:
        n = int(self.scalar(_U64))
        start = self.take(n)
        return bytes(self.buf[start : start + n])

    def value(self, vtype: int) -> Scalar | GGUFArray:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == GGUFValueType.STRING:
            return self.raw_string().decode("utf-8", "replace")
        if vtype == GGUFValueType.ARRAY:
            item_type, count = int(self.scalar(_U32)), int(self.scalar(_U64))
            start = self.pos
            if item_type in _SCALARS:
                self.take(count * _SCALARS[item_type].size)
            elif item_type == GGUFValueType.STRING:
                for _ in range(count):  # each string is at least 8 bytes: the loop ends with the file
                    self.take(int(self.scalar(_U64)))
            else:
                raise _Corrupt(f"an array of metadata type {item_type}")
            return GGUFArray(item_type, count, bytes(self.buf[start : self.pos]))
        raise _Corrupt(f"unknown metadata type {vtype}")


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read the metadata and tensor infos of a GGUF file, checking that its tensor data is all there."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            size = p.stat().st_size
            if fh.read(4) != GGUF_MAGIC:
                raise NotGGUFError(f"{p.name} is not a GGUF model file")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(p, buf, size)
    except FileNotFoundError:
        raise UnreadableFileError(f"{p} does not exist") from None
    except IsADirectoryError:
        raise UnreadableFileError(f"{p} is a folder, not a GGUF file") from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {p}: {exc.strerror or exc}") from exc


def _parse(p: Path, buf: mmap.mmap, size: int) -> GGUFHeader:
    cur = _Cursor(buf, size)
    try:
        if size < _HEADER.size:
            raise _Truncated("header")
        _magic, version, n_tensors, n_kv = _HEADER.unpack_from(buf, cur.take(_HEADER.size))
        _check_version(p, version)
        fields: dict[str, Scalar | GGUFArray] = {}
        cur.where = "metadata"
        for _ in range(n_kv):  # each pair is at least 13 bytes: a bogus count runs into the end of the file
            key = _text(cur.raw_string(), "a metadata key")
            if key in fields:
                raise _Corrupt(f"the metadata key {key!r} appears twice")
            fields[key] = cur.value(int(cur.scalar(_U32)))
        alignment = fields.get("general.alignment", DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
        ):
            raise _Corrupt(f"general.alignment is {alignment!r}, not a power of two")
        cur.where = "tensor list"
        infos = [_tensor_info(cur) for _ in range(n_tensors)]
        data_offset = -(-cur.pos // alignment) * alignment
        tensors = _place(infos, data_offset, alignment)
    except _Truncated as cut:
        raise TruncatedGGUFError(
            f"{p.name} is truncated: it ends inside its {cut.where} (an interrupted download or copy?)"
        ) from None
    except _Corrupt as bad:
        raise CorruptGGUFError(f"{p.name} is corrupt: {bad}") from None
    end = max((t.offset + (t.n_bytes or 0) for t in tensors), default=0)
    if end > size:
        raise TruncatedGGUFError(
            f"{p.name} is truncated: its tensors need {end} bytes but the file has {size} (an interrupted download?)"
        )
    return GGUFHeader(p, version, size, fields, tuple(tensors), alignment, data_offset)


def _check_version(p: Path, version: int) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    if version & 0xFFFF == 0 and version >> 24 in SUPPORTED_VERSIONS:
        raise UnsupportedGGUFError(f"{p.name} is a big-endian GGUF file, which llama.cpp does not read here")
    if version == 1:
        raise UnsupportedGGUFError(f"{p.name} is a GGUF version 1 file, which llama.cpp no longer reads")
    raise UnsupportedGGUFError(f"{p.name} uses GGUF version {version}; this StageLens reads versions 2 and 3")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Corrupt(f"{what} is not UTF-8 text") from None


def _tensor_info(cur: _Cursor) -> tuple[str, tuple[int, ...], int, int]:
    name = _text(cur.raw_string(), "a tensor name")
    n_dims = int(cur.scalar(_U32))
    if n_dims > MAX_DIMS:
        raise _Corrupt(f"tensor {name} has {n_dims} dimensions (at most {MAX_DIMS})")
    shape = tuple(int(cur.scalar(_U64)) for _ in range(n_dims))
    type_id = int(cur.scalar(_U32))
    offset = int(cur.scalar(_U64))
    n = 1
    for d in shape:
        n *= d
    if n >= 2**63:
        raise _Corrupt(f"tensor {name} claims {n} elements")
    sizes = _block_sizes(type_id)
    if sizes is not None and shape and shape[0] % sizes[0]:
        raise _Corrupt(f"tensor {name}'s first dimension {shape[0]} is not a multiple of its block size {sizes[0]}")
    return name, shape, type_id, offset


def _place(infos: list[tuple[str, tuple[int, ...], int, int]], data_offset: int, alignment: int) -> list[TensorInfo]:
    seen: set[str] = set()
    tensors = []
    for name, shape, type_id, offset in infos:
        if name in seen:
            raise _Corrupt(f"the tensor {name} appears twice")
        seen.add(name)
        if offset % alignment:
            raise _Corrupt(f"tensor {name} starts at offset {offset}, not a multiple of {alignment}")
        tensors.append(TensorInfo(name, shape, type_id, data_offset + offset))
    return tensors
