"""The demo model's vocabulary: 256 byte tokens, 372 merges and the 3 ChatML tokens (631 tokens), a
byte-level BPE written by the project's tokenizer writer (``stagelens_dev.tokenizer``).

It was learned once (stop 19) from 4,000 generated items (questions and their four stages, seed
12345) plus the text the engine writes itself (stage tags, chat pieces, the judge prompt) counted
20 times, merging until every corpus word was one token. It is stored (``demo_vocab.json``) rather
than learned again on each run, because the corpus holds the REASONING texts, which have changed
since: learning it again would give stage 1 other token ids, and the recipe in the model card would
no longer make the shipped model. The shipped GGUF holds this same vocabulary (a test checks it).
llama.cpp runs it as ``tokenizer.ggml.model = "gpt2"`` with the ``qwen2`` pre-tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import gguf

from stagelens_dev.tokenizer import TokenizerMetadata, Vocab
from stagelens_dev.training.prompts import BOS, CHAT_TEMPLATE, EOS, SPECIAL_TOKENS

VOCAB_FILE = Path(__file__).with_name("demo_vocab.json")
METADATA = TokenizerMetadata(
    bos=BOS, eos=EOS, eot=EOS, pad=BOS, add_bos=False, add_eos=False, chat_template=CHAT_TEMPLATE
)


@lru_cache(maxsize=1)
def demo_vocab() -> Vocab:
    """The demo vocabulary, as stored."""
    data = json.loads(VOCAB_FILE.read_text(encoding="utf-8"))
    return vocab_of(data["tokens"], [(a, b) for a, b in data["merges"]])


def vocab_of(tokens: Sequence[str], merges: Sequence[tuple[str, str]]) -> Vocab:
    """A vocabulary stored in a checkpoint or a GGUF file: its tokens and merges, the ChatML tokens CONTROL."""
    types = tuple(
        int(gguf.TokenType.CONTROL) if token in SPECIAL_TOKENS else int(gguf.TokenType.NORMAL) for token in tokens
    )
    return Vocab(tuple(tokens), types, tuple(tuple(m) for m in merges), SPECIAL_TOKENS)  # type: ignore[arg-type]
