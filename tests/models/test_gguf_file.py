"""The one GGUF header reader: the same metadata and tensor infos as gguf-py's reader, and one clear
ModelFileError (never a struct, numpy or index error) for every cut, damaged or foreign file."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import gguf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagelens.engine import ModelLoadError, check_projector_fits
from stagelens.models.gguf_file import (
    CorruptGGUFError,
    ModelFileError,
    NotGGUFError,
    TruncatedGGUFError,
    UnreadableFileError,
    UnsupportedGGUFError,
    read_gguf_header,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"
INTERNALS = ("numpy", "memmap", "struct", "unpack", "Traceback", "index", "buffer")

U32, STRING, ARRAY = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.STRING, gguf.GGUFValueType.ARRAY


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    return _string(key) + struct.pack("<I", vtype) + payload


def tensor(name: str, dims: tuple[int, ...], ttype: int = 0, offset: int = 0) -> bytes:
    return (
        _string(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ttype, offset)
    )


def gguf_bytes(kvs: list[bytes], tensors: list[bytes], data: bytes = b"", version: int = 3) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)
    return head + b"\0" * (-len(head) % 32) + data


ARCH = kv("general.architecture", STRING, _string("llama"))


def write(tmp_path: Path, data: bytes, name: str = "model.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_one_sentence(exc: ModelFileError, name: str) -> None:
    message = str(exc)
    assert message.startswith(name) and "\n" not in message, message
    assert not [word for word in INTERNALS if word in message], message


@pytest.mark.parametrize("which", ["text", "mmproj", "demo-text", "demo-mmproj"])
def test_reads_what_gguf_py_reads(which, tiny_model):
    path = {
        "text": tiny_model.text,
        "mmproj": tiny_model.mmproj,
        "demo-text": DEMO / "demo-text.gguf",
        "demo-mmproj": DEMO / "demo-mmproj.gguf",
    }[which]
    header, reference = read_gguf_header(path), gguf.GGUFReader(path)
    expected = {k: f.contents() for k, f in reference.fields.items() if not k.startswith("GGUF.")}
    assert set(header.fields) == set(expected)
    for key, value in expected.items():
        assert header.get(key) == pytest.approx(value) if isinstance(value, float) else header.get(key) == value, key
    assert [(t.name, list(t.shape), t.type_name, t.offset, t.n_bytes) for t in header.tensors] == [
        (t.name, [int(d) for d in t.shape], t.tensor_type.name, int(t.data_offset), int(t.n_bytes))
        for t in reference.tensors
    ]
    assert header.file_size == Path(path).stat().st_size and header.version == 3


def test_a_cut_anywhere_is_truncated_with_the_file_name(tmp_path, tiny_model):
    data = Path(tiny_model.mmproj).read_bytes()
    data_offset = read_gguf_header(tiny_model.mmproj).data_offset
    where = set()
    for cut in [*range(4, data_offset + 64, 29), len(data) - 1]:
        path = write(tmp_path, data[:cut], "cut-mmproj.gguf")
        with pytest.raises(TruncatedGGUFError) as info:
            read_gguf_header(path)
        assert_one_sentence(info.value, "cut-mmproj.gguf is truncated")
        where.add(str(info.value).split(":")[1].split("(")[0].strip())
    assert {"it ends inside its header", "it ends inside its metadata", "it ends inside its tensor list"} <= where
    assert any(w.startswith("its tensors need") for w in where)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_headers_give_a_model_file_error_or_a_header(tmp_path, tiny_model, data):
    original = Path(tiny_model.mmproj).read_bytes()
    damaged = bytearray(original[:4096])  # the header of the tiny mmproj ends at 3296
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(4, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    path = write(tmp_path, bytes(damaged) + original[4096:], "fuzz.gguf")
    try:
        read_gguf_header(path)
    except ModelFileError as exc:
        assert_one_sentence(exc, "fuzz.gguf")


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", NotGGUFError, "is not a GGUF model file"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 100, NotGGUFError, "is not a GGUF model file"),
        (b"GGUF", TruncatedGGUFError, "ends inside its header"),
        (gguf_bytes([ARCH], [], version=1), UnsupportedGGUFError, "GGUF version 1 file"),
        (gguf_bytes([ARCH], [], version=7), UnsupportedGGUFError, "reads versions 2 and 3"),
        (gguf_bytes([ARCH], [], version=3 << 24), UnsupportedGGUFError, "big-endian"),
        (gguf_bytes([kv("x", 99, b"")], []), CorruptGGUFError, "unknown metadata type 99"),
        (gguf_bytes([kv("x", ARRAY, struct.pack("<IQ", ARRAY, 1))], []), CorruptGGUFError, "an array of metadata"),
        (gguf_bytes([ARCH, ARCH], []), CorruptGGUFError, "'general.architecture' appears twice"),
        (gguf_bytes([kv(b"\xff\xfe", U32, b"\0" * 4)], []), CorruptGGUFError, "a metadata key is not UTF-8"),
        (gguf_bytes([kv("general.alignment", U32, struct.pack("<I", 24))], []), CorruptGGUFError, "power of two"),
        (gguf_bytes([], [tensor("w", (1, 1, 1, 1, 1))]), CorruptGGUFError, "tensor w has 5 dimensions"),
        (gguf_bytes([], [tensor("w", (2**40, 2**40))]), CorruptGGUFError, "claims"),
        (gguf_bytes([], [tensor("w", (4,), offset=8)], b"\0" * 64), CorruptGGUFError, "not a multiple of 32"),
        (gguf_bytes([], [tensor("w", (4,)), tensor("w", (4,), offset=32)], b"\0" * 64), CorruptGGUFError, "twice"),
        (gguf_bytes([], [tensor("q", (33,), ttype=2)], b"\0" * 64), CorruptGGUFError, "block size 32"),
        (gguf_bytes([], [tensor("w", (4, 4))], b"\0" * 32), TruncatedGGUFError, "its tensors need"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62), TruncatedGGUFError, "ends inside its metadata"),
        (gguf_bytes([kv("x", STRING, struct.pack("<Q", 2**60))], []), TruncatedGGUFError, "metadata"),
        (gguf_bytes([kv("x", ARRAY, struct.pack("<IQ", U32, 2**61))], []), TruncatedGGUFError, "metadata"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0), TruncatedGGUFError, "ends inside its tensor list"),
    ],
)
def test_each_problem_has_its_own_error_and_sentence(tmp_path, data, error, message):
    path = write(tmp_path, data, "broken.gguf")
    with pytest.raises(error, match=message) as info:
        read_gguf_header(path)
    assert_one_sentence(info.value, "broken.gguf")


def test_missing_folder_and_unreadable_files(tmp_path):
    with pytest.raises(UnreadableFileError, match="does not exist"):
        read_gguf_header(tmp_path / "missing.gguf")
    with pytest.raises(UnreadableFileError, match="is a folder"):
        read_gguf_header(tmp_path)
    if os.geteuid() != 0:  # root reads any file
        locked = write(tmp_path, gguf_bytes([ARCH], []), "locked.gguf")
        locked.chmod(0)
        with pytest.raises(UnreadableFileError, match="cannot read"):
            read_gguf_header(locked)


def test_values_arrays_and_unknown_tensor_types(tmp_path):
    tokens = ["a", "ü", "<|x|>"]
    data = gguf_bytes(
        [
            ARCH,
            kv("tokens", ARRAY, struct.pack("<IQ", STRING, len(tokens)) + b"".join(map(_string, tokens))),
            kv("ids", ARRAY, struct.pack("<IQ", gguf.GGUFValueType.INT32, 3) + struct.pack("<3i", -1, 0, 7)),
            kv("flag", gguf.GGUFValueType.BOOL, b"\x01"),
            kv("eps", gguf.GGUFValueType.FLOAT32, struct.pack("<f", 0.5)),
        ],
        [tensor("w", (8, 2), ttype=0), tensor("future", (4,), ttype=250, offset=64)],
        b"\0" * 64,
    )
    header = read_gguf_header(write(tmp_path, data))
    assert header.architecture == "llama" and header.get("missing", "default") == "default"
    assert header.get("tokens") == tokens and header.get("ids") == [-1, 0, 7]
    assert header.get("flag") is True and header.get("eps") == 0.5
    w, future = header.tensors
    assert (w.shape, w.n_elements, w.n_bytes, w.type_name, w.offset) == ((8, 2), 16, 64, "F32", header.data_offset)
    assert (future.type_name, future.n_bytes) == ("type 250", None), "a newer tensor type is named, not refused"


def test_compat_names_the_role_of_the_bad_file(tmp_path, tiny_model):
    cut = write(tmp_path, Path(tiny_model.text).read_bytes()[:5000], "cut-text.gguf")
    with pytest.raises(ModelLoadError, match="^the text model cut-text.gguf is truncated: it ends inside"):
        check_projector_fits(cut, tiny_model.mmproj)
    junk = write(tmp_path, b"not a model", "junk.gguf")
    with pytest.raises(ModelLoadError, match="^the vision projector junk.gguf is not a GGUF file$"):
        check_projector_fits(tiny_model.text, junk)
    with pytest.raises(ModelLoadError, match="^cannot read the vision projector: .*missing.gguf does not exist$"):
        check_projector_fits(tiny_model.text, tmp_path / "missing.gguf")
