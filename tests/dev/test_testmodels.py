"""The generated test models: deterministic files that llama.cpp and libmtmd really load and run."""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

try:
    import stagelens_dev  # noqa: F401
except ImportError:  # running from a source checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))

import llama_cpp  # noqa: E402  (before anything else that loads libllama)
import llama_cpp.llama_cpp as L  # noqa: E402
import llama_cpp.mtmd_cpp as M  # noqa: E402

from stagelens_dev import gguf_write  # noqa: E402
from stagelens_dev.testmodels import PRESETS, STAGE_TAGS, TestModelFiles, make_test_model  # noqa: E402

TINY_IMAGE_TOKENS = 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TestModelFiles:
    return make_test_model("tiny", tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def llm(tiny: TestModelFiles) -> Iterator[llama_cpp.Llama]:
    model = llama_cpp.Llama(model_path=str(tiny.text), n_ctx=512, verbose=False)
    yield model
    model.close()


@pytest.fixture(scope="module")
def vocab(llm: llama_cpp.Llama) -> L.llama_vocab_p:
    return L.llama_model_get_vocab(llm._model.model)


def tokenize(vocab: L.llama_vocab_p, text: str, *, parse_special: bool) -> list[int]:
    data = text.encode()
    buf = (L.llama_token * (len(data) + 8))()
    n = L.llama_tokenize(vocab, data, len(data), buf, len(buf), False, parse_special)
    assert n >= 0
    return list(buf[:n])


def detokenize(vocab: L.llama_vocab_p, tokens: list[int]) -> str:
    arr = (L.llama_token * len(tokens))(*tokens)
    buf = ctypes.create_string_buffer(64 * len(tokens) + 64)
    n = L.llama_detokenize(vocab, arr, len(tokens), buf, len(buf), False, False)
    assert n >= 0
    return buf.raw[:n].decode()


def last_logits(llm: llama_cpp.Llama) -> np.ndarray:
    row = L.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).copy()


# --- files -----------------------------------------------------------------------------------


def test_tiny_is_fast_small_and_named_by_preset(tmp_path: Path) -> None:
    start = time.monotonic()
    files = make_test_model("tiny", tmp_path / "new" / "dir")
    assert time.monotonic() - start < 5.0
    assert files.text == tmp_path / "new" / "dir" / "tiny-text.gguf"
    assert files.mmproj == tmp_path / "new" / "dir" / "tiny-mmproj.gguf"
    assert files.text.stat().st_size < 2_000_000
    assert files.mmproj.stat().st_size < 2_000_000


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = make_test_model("tiny", tmp_path / "a", seed=7)
    b = make_test_model("tiny", tmp_path / "b", seed=7)
    assert a.text.read_bytes() == b.text.read_bytes()
    assert a.mmproj.read_bytes() == b.mmproj.read_bytes()


def test_different_seed_gives_different_weights(tmp_path: Path) -> None:
    a = make_test_model("tiny", tmp_path / "a", seed=0)
    b = make_test_model("tiny", tmp_path / "b", seed=1)
    assert a.text.read_bytes() != b.text.read_bytes()
    assert a.mmproj.read_bytes() != b.mmproj.read_bytes()


def test_existing_files_are_reused_without_rewriting(tmp_path: Path) -> None:
    def identity(path: Path) -> tuple[int, int, int]:
        # not the whole stat: reading a file may update its access time (seen under load)
        st = path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    first = make_test_model("tiny", tmp_path)
    before = [identity(first.text), identity(first.mmproj)]
    second = make_test_model("tiny", tmp_path)
    assert second == first
    assert [identity(second.text), identity(second.mmproj)] == before


def test_files_from_another_seed_or_damaged_are_regenerated(tmp_path: Path) -> None:
    expected = make_test_model("tiny", tmp_path / "ref", seed=3)
    files = make_test_model("tiny", tmp_path / "out", seed=2)
    files.mmproj.write_bytes(b"GGUF garbage")
    make_test_model("tiny", tmp_path / "out", seed=3)
    assert files.text.read_bytes() == expected.text.read_bytes()
    assert files.mmproj.read_bytes() == expected.mmproj.read_bytes()


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def write_half_then_fail(writer: gguf_write.gguf.GGUFWriter) -> None:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
        raise KeyboardInterrupt  # as if the run were killed mid-write

    monkeypatch.setattr(gguf_write, "finish", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        make_test_model("tiny", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_successful_write_leaves_only_the_two_files(tmp_path: Path) -> None:
    make_test_model("tiny", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-mmproj.gguf", "tiny-text.gguf"]


def test_unknown_preset_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown") as info:
        make_test_model("huge", tmp_path)
    for preset in PRESETS:
        assert preset in str(info.value)
    assert not tmp_path.joinpath("huge-text.gguf").exists()


# --- text model through libllama -------------------------------------------------------------


def test_special_tokens_are_single_control_tokens(vocab: L.llama_vocab_p) -> None:
    text = "<|im_start|>user\nHow many red circles?<|im_end|>"
    tokens = tokenize(vocab, text, parse_special=True)
    im_end = L.llama_vocab_eos(vocab)
    assert tokens[-1] == im_end
    assert L.llama_vocab_eot(vocab) == im_end
    assert L.llama_vocab_is_eog(vocab, im_end)
    assert L.llama_vocab_is_control(vocab, tokens[0])
    assert detokenize(vocab, tokens[1:-1]) == "user\nHow many red circles?"
    assert not L.llama_vocab_get_add_bos(vocab)
    assert L.llama_vocab_pad(vocab) >= 0


def test_stage_tags_are_plain_text_in_few_tokens(vocab: L.llama_vocab_p) -> None:
    for tag in STAGE_TAGS:
        tokens = tokenize(vocab, tag, parse_special=True)
        assert 1 <= len(tokens) <= 3, (tag, tokens)
        assert not any(L.llama_vocab_is_control(vocab, t) for t in tokens)
        assert detokenize(vocab, tokens) == tag


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "wörld 😀 ✓ 中文 \t\n\r\n  x ? y , 's",
        "<SUMMARY> a </SUMMARY>\n\n",
        "\x00\x7f",
    ],
)
def test_any_utf8_round_trips(vocab: L.llama_vocab_p, text: str) -> None:
    assert detokenize(vocab, tokenize(vocab, text, parse_special=False)) == text


def test_chat_template_is_chatml(llm: llama_cpp.Llama) -> None:
    template = llm.metadata["tokenizer.chat_template"]
    assert "<|im_start|>" in template
    assert "add_generation_prompt" in template


def test_greedy_completion_generates_deterministically(llm: llama_cpp.Llama) -> None:
    prompt = "<|im_start|>user\nHow many red circles?<|im_end|>\n<|im_start|>assistant\n"
    first = llm.create_completion(prompt, max_tokens=8, temperature=0)
    second = llm.create_completion(prompt, max_tokens=8, temperature=0)
    assert first["usage"]["completion_tokens"] > 0
    assert first["choices"][0]["text"] == second["choices"][0]["text"]


def test_logits_are_peaked(llm: llama_cpp.Llama) -> None:
    gaps = []
    for prompt in ("How many red circles?", "The image shows", "<SUMMARY>", "12 + 7 ="):
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode(), add_bos=False, special=True))
        for _ in range(20):
            logits = last_logits(llm)
            top2 = np.sort(logits)[-2:]
            gaps.append(float(top2[1] - top2[0]))
            llm.eval([int(np.argmax(logits))])
    assert np.median(gaps) > 0.5
    assert np.mean(np.array(gaps) > 0.05) > 0.9


# --- mmproj through libmtmd ------------------------------------------------------------------


def test_image_tokenizes_and_evaluates(tiny: TestModelFiles, llm: llama_cpp.Llama) -> None:
    params = M.mtmd_context_params_default()
    params.use_gpu = False
    params.print_timings = False
    mctx = M.mtmd_init_from_file(str(tiny.mmproj).encode(), llm._model.model, params)
    assert mctx
    try:
        assert M.mtmd_support_vision(mctx)
        rgb = (np.arange(50 * 40 * 3) % 251).astype(np.uint8).tobytes()
        bitmap = M.mtmd_bitmap_init(50, 40, (ctypes.c_uint8 * len(rgb)).from_buffer_copy(rgb))
        chunks = M.mtmd_input_chunks_init()
        try:
            marker = M.mtmd_default_marker().decode()
            prompt = f"<|im_start|>user\n{marker}How many?<|im_end|>\n".encode()
            text = M.mtmd_input_text(text=prompt, text_len=len(prompt), add_special=False, parse_special=True)
            bitmaps = (M.mtmd_bitmap_p_ctypes * 1)(bitmap)
            assert M.mtmd_tokenize(mctx, chunks, ctypes.byref(text), bitmaps, 1) == 0
            assert M.mtmd_input_chunks_size(chunks) == 3
            image = M.mtmd_input_chunks_get(chunks, 1)
            assert M.mtmd_input_chunk_get_type(image) == M.MTMD_INPUT_CHUNK_TYPE_IMAGE
            assert M.mtmd_input_chunk_get_n_tokens(image) == TINY_IMAGE_TOKENS
            n_total = sum(M.mtmd_input_chunk_get_n_tokens(M.mtmd_input_chunks_get(chunks, i)) for i in range(3))

            llm.reset()
            L.llama_memory_clear(L.llama_get_memory(llm._ctx.ctx), True)
            new_n_past = L.llama_pos(0)
            status = M.mtmd_helper_eval_chunks(mctx, llm._ctx.ctx, chunks, 0, 0, 512, True, ctypes.byref(new_n_past))
            assert status == 0
            assert new_n_past.value == n_total
            assert np.isfinite(last_logits(llm)).all()
        finally:
            M.mtmd_input_chunks_free(chunks)
            M.mtmd_bitmap_free(bitmap)
    finally:
        M.mtmd_free(mctx)
