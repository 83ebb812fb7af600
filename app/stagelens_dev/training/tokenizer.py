"""The demo model's vocabulary: the project's byte-level BPE writer (``stagelens_dev.tokenizer``) learned
on generated scene texts.

The recipe: 4,000 generated items (questions and their four stages, ``CORPUS_SEED``), plus the text
the engine writes itself (stage tags, chat pieces, the judge prompt) counted ``ENGINE_TEXT_WEIGHT``
times, merges until every corpus word is one token (``N_MERGES`` is only a cap), then the ChatML
CONTROL tokens. llama.cpp runs it as ``tokenizer.ggml.model = "gpt2"`` with the ``qwen2`` pre-tokenizer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

import gguf

from stagelens_dev.tokenizer import BpeRecipe, TokenizerMetadata, Vocab, learn_vocab
from stagelens_dev.training.prompts import BOS, CHAT_TEMPLATE, EOS, SPECIAL_TOKENS, engine_corpus
from stagelens_dev.training.questions import QUESTION_KINDS, random_example

N_MERGES = 800
CORPUS_SEED = 12345
CORPUS_ITEMS = 4000
ENGINE_TEXT_WEIGHT = 20
METADATA = TokenizerMetadata(
    bos=BOS, eos=EOS, eot=EOS, pad=BOS, add_bos=False, add_eos=False, chat_template=CHAT_TEMPLATE
)


def demo_recipe() -> BpeRecipe:
    rng = random.Random(CORPUS_SEED)
    texts: list[str] = []
    for _ in range(CORPUS_ITEMS):
        _, item = random_example(rng, rng.choice(QUESTION_KINDS))
        texts.append(item.question)
        texts.extend(item.stages)
    weighted = tuple((text, ENGINE_TEXT_WEIGHT) for text in engine_corpus())
    return BpeRecipe(tuple(texts), N_MERGES, SPECIAL_TOKENS, weighted)


@lru_cache(maxsize=1)
def demo_vocab() -> Vocab:
    """The demo vocabulary (learned once per process: the recipe is fixed)."""
    return learn_vocab(demo_recipe())


def vocab_of(tokens: Sequence[str], merges: Sequence[tuple[str, str]]) -> Vocab:
    """A vocabulary stored in a checkpoint or a GGUF file: its tokens and merges, the ChatML tokens CONTROL."""
    types = tuple(
        int(gguf.TokenType.CONTROL) if token in SPECIAL_TOKENS else int(gguf.TokenType.NORMAL) for token in tokens
    )
    return Vocab(tuple(tokens), types, tuple(tuple(m) for m in merges), SPECIAL_TOKENS)  # type: ignore[arg-type]
