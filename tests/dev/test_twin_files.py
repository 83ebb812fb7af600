"""The twins' files: one for every catalog family, each family's layout as llama.cpp reads it, made
fast, byte-identical per seed and reused while current; their tokenizers (SentencePiece-style ones
too) read and written back by llama.cpp itself."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gguf
import llama_cpp
import pytest

from stagelens.models.gguf_file import read_gguf_header
from stagelens_dev.testmodels.twins import BY_CATALOG, FAMILIES, TWIN_GENERATOR_VERSION, make_twin

CATALOG = Path(__file__).resolve().parents[2] / "models" / "catalog.json"


@pytest.fixture(scope="module")
def twins_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "twins"


def test_every_catalog_family_has_a_twin():
    families = {m["family"] for m in json.loads(CATALOG.read_text(encoding="utf-8"))["models"]}
    assert families <= set(BY_CATALOG), f"no twin for {sorted(families - set(BY_CATALOG))}"
    assert set(BY_CATALOG) <= families, "a twin of a family the catalog no longer lists"


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.key)
def test_a_twin_has_its_familys_layout(family, twins_dir):
    files = make_twin(family.catalog, twins_dir)  # by its catalog name, too
    text, mmproj = read_gguf_header(files.text), read_gguf_header(files.mmproj)
    assert text.architecture == family.text.arch and mmproj.architecture == "clip"
    assert mmproj.get("clip.projector_type") == family.vision.projector
    assert text.get("stagelens.testmodel.version") == TWIN_GENERATOR_VERSION
    assert text.get("stagelens.testmodel.preset") == f"twin-{family.key}"
    for key, (_, value) in family.vision.extra_kv.items():
        assert mmproj.get(key) == value, key
    assert mmproj.get("clip.vision.image_size") == family.vision.image_size
    assert text.get("tokenizer.ggml.model") == family.vocab().learn().model
    assert text.get("tokenizer.chat_template")


def test_twins_are_fast_reused_and_byte_identical_per_seed(tmp_path):
    started = time.perf_counter()
    files = [make_twin(f.key, tmp_path / "a") for f in FAMILIES]
    first_build = time.perf_counter() - started
    stamps = [(p.stat().st_mtime_ns, p.read_bytes()) for f in files for p in (f.text, f.mmproj)]
    again = [make_twin(f.key, tmp_path / "a") for f in FAMILIES]
    assert [(p.stat().st_mtime_ns, p.read_bytes()) for f in again for p in (f.text, f.mmproj)] == stamps
    other = make_twin("gemma3", tmp_path / "b")
    assert other.text.read_bytes() == files[[f.key for f in FAMILIES].index("gemma3")].text.read_bytes()
    reseeded = make_twin("gemma3", tmp_path / "c", seed=1)
    assert reseeded.text.read_bytes() != other.text.read_bytes()
    assert first_build < 60, "seconds, not minutes (a generous bound for a loaded machine)"


def test_an_unknown_family_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="no twin for family 'Llama 4'.*smolvlm"):
        make_twin("Llama 4", tmp_path)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.key)
def test_llama_cpp_reads_the_tokenizer_as_written(family, twins_dir):
    files = make_twin(family.key, twins_dir)
    vocab = family.vocab().learn()
    llm = llama_cpp.Llama(model_path=str(files.text), vocab_only=True, verbose=False)
    try:
        assert llm.n_vocab() == len(vocab.tokens)
        meta = family.vocab().meta
        assert llm.token_bos() == vocab.id_of(meta.bos) and llm.token_eos() == vocab.id_of(meta.eos)
        text = "How many red circles are there? <SUMMARY> I count 3. </SUMMARY> wörld 😀"
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert llm.detokenize(ids).decode() in (text, " " + text)  # SentencePiece may add a space first
        for special in vocab.special_tokens:
            if vocab.types[vocab.id_of(special)] == int(gguf.TokenType.CONTROL):
                assert llm.tokenize(special.encode(), add_bos=False, special=True) == [vocab.id_of(special)], special
    finally:
        llm.close()
