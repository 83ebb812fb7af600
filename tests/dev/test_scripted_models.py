"""Scripted models write their script, token by token, whatever came before: checked with
llama-cpp-python alone (no StageLens code), from each chain's first token and after a long prompt."""

from __future__ import annotations

import ctypes

import llama_cpp
import pytest

from stagelens_dev.testmodels.scripted import make_scripted_model, scripted_vocab
from stagelens_dev.testmodels.scripts import EOS, SCRIPTS, TAGS, Script, successors

# a prompt before the chain's first token: a first-order model must not care
PROMPT = "<|im_start|>system\nAnswer in four stages.<|im_end|>\n<|im_start|>user\nHow many?<|im_end|>\n"


@pytest.fixture(scope="module")
def scripted_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("scripted-files")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_llama_cpp_writes_the_script(script: Script, scripted_dir):
    files = make_scripted_model(script.name, scripted_dir)
    vocab = scripted_vocab(script)
    llm = llama_cpp.Llama(model_path=str(files.text), n_ctx=1024, verbose=False, n_threads=1)
    try:
        for chain in script.chains:
            start = llm.tokenize(chain[0].encode(), add_bos=False, special=True)
            assert len(start) == 1 and chain[0] in TAGS, "each chain starts at a stage's tag, one token"
            expected = list(chain[1:])
            wanted = len(expected) if EOS not in expected else expected.index(EOS)
            for prefix in ([], llm.tokenize(PROMPT.encode(), add_bos=False, special=True)):
                out: list[str] = []
                for tok in llm.generate(prefix + start, temp=0.0, top_k=1, reset=True):
                    if tok == llm.token_eos():
                        break
                    out.append(_piece(llm, tok))
                    if len(out) == wanted:
                        break
                assert out == expected[:wanted], chain[0]
                if EOS in expected:
                    assert len(out) == wanted  # it stopped at the end of its turn
    finally:
        llm.close()
    assert len(vocab.tokens) < 2 * 256  # the head's margin holds for this many tokens (each ~30 nats)


def _piece(llm: llama_cpp.Llama, token: int) -> str:
    """A token's text (Llama.detokenize gives nothing for pieces over 32 bytes)."""
    buf = ctypes.create_string_buffer(512)
    n = llama_cpp.llama_token_to_piece(llama_cpp.llama_model_get_vocab(llm.model), token, buf, len(buf), 0, False)
    assert n >= 0
    return buf.raw[:n].decode()


def test_a_piece_followed_by_two_pieces_is_refused():
    with pytest.raises(ValueError, match="followed by"):
        successors(Script("bad", "", (("<SUMMARY>", " a", " b"), ("<CAPTION>", " a", " c"))))


def test_unknown_scripts_name_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="no scripted model is called 'shy'.*loops"):
        make_scripted_model("shy", tmp_path)


def test_scripted_models_are_cached(scripted_dir):
    files = make_scripted_model("loops", scripted_dir)
    before = files.text.stat().st_mtime_ns, files.mmproj.stat().st_mtime_ns
    again = make_scripted_model("loops", scripted_dir)
    assert (again.text.stat().st_mtime_ns, again.mmproj.stat().st_mtime_ns) == before
