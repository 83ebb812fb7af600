"""The one byte-level BPE tokenizer writer: deterministic learning, a reference encoder that agrees with
llama.cpp, and a second vocabulary (own corpus, special tokens, merge count) written and loaded."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import gguf
import llama_cpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.testmodels import TINY, vocabulary
from stagelens_dev.testmodels.llava import write_text_gguf
from stagelens_dev.tokenizer import (
    BpeRecipe,
    TokenizerMetadata,
    build_vocab,
    count_words,
    learn_merges,
    learn_vocab,
)

TEXTS = [
    "How many red circles are in the image?",
    "<|im_start|>user\nWhat color is the square?<|im_end|>\n<|im_start|>assistant\n",
    "<SUMMARY> I count 3 circles. </SUMMARY>\n\n<CONCLUSION> 3 </CONCLUSION>",
    "  spaces,  tabs\tand\r\nnewlines ? 12345 it's",
    "wörld 😀 ✓ 中文",
]


def _llama_tokens(path: Path, text: str) -> list[int]:
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(text.encode(), add_bos=False, special=True)
    finally:
        llm.close()


def _naive_merges(counts: Counter[str], n_merges: int) -> list[tuple[str, str]]:
    """Recount every pair after every merge: slow, obviously right."""
    words = [(list(w), c) for w, c in sorted(counts.items())]
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, c in words:
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda item: (-item[1], item[0]))[0]
        merges.append(best)
        merged_words = []
        for symbols, c in words:
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged_words.append((out, c))
        words = merged_words
    return merges


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abc d\n!é", max_size=30), max_size=8), st.integers(0, 40))
def test_incremental_learning_equals_recounting(texts, n_merges):
    counts = count_words(texts)
    assert list(learn_merges(counts, n_merges)) == _naive_merges(counts, n_merges)


@pytest.mark.parametrize("text", TEXTS)
def test_reference_encoder_agrees_with_llama_cpp(tiny_model, text):
    vocab = vocabulary()
    ids = vocab.encode(text)
    assert ids == _llama_tokens(Path(tiny_model.text), text)
    assert vocab.decode(ids) == text


def test_a_second_vocabulary_is_learned_and_written(tmp_path):
    specials = ("<s>", "</s>", "<image>")
    recipe = BpeRecipe(
        corpus=("<s>the cat sat on the mat</s>", "the cat and the hat", "<image> a cat"),
        n_merges=12,
        special_tokens=specials,
        weighted=(("mat mat", 5),),
    )
    vocab = learn_vocab(recipe)
    assert learn_vocab(recipe) is vocab, "a recipe is learned once per process"
    assert len(vocab.merges) == 12 and all("<" not in a + b for a, b in vocab.merges), "specials are never split"
    assert vocab.tokens[-3:] == specials and vocab.types[-3:] == (int(gguf.TokenType.CONTROL),) * 3
    assert vocab.encode(" mat") == [vocab.id_of("Ġmat")], "weighted text favours its merges"
    assert len(learn_vocab(replace(recipe, weighted=())).encode(" mat")) == 2
    path = tmp_path / "second.gguf"
    meta = TokenizerMetadata(bos="<s>", eos="</s>", chat_template=None)
    write_text_gguf(path, TINY.text, vocab, meta, GeneratorStamp(1, "text", "second", 0))
    text = "<s><image> the cat sat on the hat</s>"
    assert vocab.encode(text) == _llama_tokens(path, text)
    assert vocab.encode(text)[:2] == [vocab.id_of("<s>"), vocab.id_of("<image>")]


def test_padding_and_its_limit():
    vocab = build_vocab([("a", "b")], ["<x>"], pad_to=300)
    assert len(vocab.tokens) == 300 and vocab.n_real() == 256 + 1 + 1
    assert vocab.tokens[-1] == "<unused_41>" and vocab.types[-1] == int(gguf.TokenType.UNUSED)
    with pytest.raises(ValueError, match="does not fit in 100"):
        build_vocab([], ["<x>"], pad_to=100)
