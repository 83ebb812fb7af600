"""The one GGUF writing helper: stamps decide reuse, writes are atomic, quantization goes through libllama."""

from __future__ import annotations

from pathlib import Path

import llama_cpp  # noqa: F401  (before anything else that loads libllama)

from stagelens.models.gguf_file import read_gguf_header
from stagelens.models.gguf_info import read_gguf_info
from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.testmodels import GENERATOR_VERSION, TINY, vocabulary
from stagelens_dev.testmodels.llava import write_text_gguf
from stagelens_dev.testmodels.vocab import TOKENIZER_METADATA

STAMP = GeneratorStamp(GENERATOR_VERSION, "text", "tiny", 0)


def _writer(calls: list[Path]) -> gguf_write.WriteFile:
    def write(path: Path) -> None:
        calls.append(path)
        write_text_gguf(path, TINY.text, vocabulary(), TOKENIZER_METADATA, STAMP)

    return write


def test_the_stamp_decides_whether_a_file_is_reused(tmp_path, tiny_model):
    assert gguf_write.is_current(Path(tiny_model.text), STAMP)
    assert not gguf_write.is_current(Path(tiny_model.text), GeneratorStamp(GENERATOR_VERSION, "text", "tiny", 1))
    assert not gguf_write.is_current(Path(tiny_model.text), GeneratorStamp(GENERATOR_VERSION + 1, "text", "tiny", 0))
    assert not gguf_write.is_current(Path(tiny_model.mmproj), STAMP), "the projector is another kind"
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(Path(tiny_model.text).read_bytes()[:-10])
    assert not gguf_write.is_current(cut, STAMP), "a cut file carries the stamp but is not complete"
    assert not gguf_write.is_current(tmp_path / "missing.gguf", STAMP)
    assert STAMP.as_kv() == {k: read_gguf_header(tiny_model.text).get(k) for k in STAMP.as_kv()}


def test_ensure_file_writes_once_then_reuses(tmp_path):
    calls: list[Path] = []
    target = tmp_path / "model.gguf"
    assert gguf_write.ensure_file(target, STAMP, _writer(calls)) is True
    before = target.stat()
    assert gguf_write.ensure_file(target, STAMP, _writer(calls)) is False
    assert len(calls) == 1 and calls[0] != target and calls[0].name.startswith(".model.gguf.")
    assert target.stat() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_quantized_writes_through_libllama_and_keeps_the_stamp(tmp_path):
    calls: list[Path] = []
    target = tmp_path / "q4.gguf"
    q4_0 = 2  # LLAMA_FTYPE_MOSTLY_Q4_0 and GGML_TYPE_Q4_0 are both 2
    gguf_write.write_atomically(target, gguf_write.quantized(_writer(calls), q4_0, q4_0))
    info, header = read_gguf_info(target), read_gguf_header(target)
    assert info.quantization == "Q4_0" and header.tensor("output.weight").type_name == "Q4_0"
    assert {t.type_name for t in header.tensors if len(t.shape) == 2} == {"Q4_0"}
    assert gguf_write.is_current(target, STAMP), "the quantizer copies our metadata"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q4.gguf"], "no unquantized or partial file is left"
