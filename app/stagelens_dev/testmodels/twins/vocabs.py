"""The twins' tokenizers: each family's tokenizer kind, special tokens at their usual places, and the
BOS/EOS/PAD/UNK choices of its published GGUFs, learned from a small corpus by stagelens_dev.tokenizer."""

from __future__ import annotations

from dataclasses import dataclass

import gguf

from stagelens_dev.testmodels.twins import templates
from stagelens_dev.testmodels.vocab import CORPUS, TAG_CONTEXTS, TAG_WEIGHT
from stagelens_dev.tokenizer import (
    SPM_SPACE,
    BpeRecipe,
    SpmRecipe,
    TokenizerMetadata,
    Vocab,
    learn_spm_vocab,
    learn_vocab,
)

CONTROL = int(gguf.TokenType.CONTROL)
UNKNOWN = int(gguf.TokenType.UNKNOWN)

# What the judge and the format instruction ask, so their words merge into few tokens.
PROMPT_TEXT = """\
Two candidates were written for the SUMMARY stage of the answer. Judge which one is more accurate and more
useful for answering the question about the image. Candidate A: the first. Candidate B: the second.
Answer with a single letter, A or B. The better candidate is A. The better candidate is B.
Answer in four stages: SUMMARY, CAPTION, REASONING and CONCLUSION, each between its tags.
"""
N_MERGES = 400


@dataclass(frozen=True)
class TwinVocab:
    kind: str  # "bpe" | "spm"
    bpe: BpeRecipe | None
    spm: SpmRecipe | None
    meta: TokenizerMetadata

    def learn(self) -> Vocab:
        if self.bpe is not None:
            return learn_vocab(self.bpe)
        assert self.spm is not None
        return learn_spm_vocab(self.spm)


def _corpus(*chat: str) -> tuple[str, ...]:
    return (CORPUS, PROMPT_TEXT, *chat)


_WEIGHTED = tuple((context, TAG_WEIGHT) for context in TAG_CONTEXTS)

QWEN_SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)  # fmt: skip
QWEN_USER_DEFINED = (
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
)  # fmt: skip
QWEN_CHAT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"


def qwen(extra_control: tuple[str, ...] = (), extra_user: tuple[str, ...] = (), template: str = "") -> TwinVocab:
    """Qwen2 / Qwen2.5 / Qwen3 (and InternVL's Qwen2.5 LM): specials after the merges, BOS <|endoftext|>."""
    recipe = BpeRecipe(
        corpus=_corpus(QWEN_CHAT, "<|im_end|>\n<|im_start|>assistant\n", templates.INTERNVL_SYSTEM),
        n_merges=N_MERGES,
        special_tokens=QWEN_SPECIALS + extra_control,
        user_defined=QWEN_USER_DEFINED + extra_user,
        weighted=_WEIGHTED,
        required=("\n\n",),
    )
    meta = TokenizerMetadata(bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>", chat_template=template)
    return TwinVocab("bpe", recipe, None, meta)


def smolvlm(video: bool, template: str) -> TwinVocab:
    """SmolLM2's tokenizer: <|endoftext|> <|im_start|> <|im_end|> at ids 0-2, Idefics3's image tokens after
    the merges; "\\n\\n" one token (mtmd looks it up for the tile layout)."""
    images = ("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>")
    tiles = tuple(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7))
    recipe = BpeRecipe(
        corpus=_corpus("User: What is in the picture?<end_of_utterance>\nAssistant: A cat.<end_of_utterance>\n"),
        n_merges=N_MERGES,
        leading=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        special_tokens=images + tiles + (("<video>",) if video else ()),
        weighted=_WEIGHTED,
        required=("\n\n",),
    )
    meta = TokenizerMetadata(
        bos="<|im_start|>", eos="<end_of_utterance>", pad="<|im_end|>", unk="<|endoftext|>", chat_template=template,
        pre_tokenizer="smollm",
    )  # fmt: skip
    return TwinVocab("bpe", recipe, None, meta)


def gemma3(template: str) -> TwinVocab:
    """Gemma 3: SentencePiece-style without a space prefix; <pad> <eos> <bos> <unk> at ids 0-3."""
    recipe = SpmRecipe(
        corpus=_corpus("<start_of_turn>user\nWhat is in the picture?<end_of_turn>\n<start_of_turn>model\nA cat."),
        n_pieces=N_MERGES,
        leading=(
            ("<pad>", CONTROL),
            ("<eos>", CONTROL),
            ("<bos>", CONTROL),
            ("<unk>", UNKNOWN),
            ("<mask>", CONTROL),
            ("<start_of_turn>", CONTROL),
            ("<end_of_turn>", CONTROL),
        ),  # fmt: skip
        trailing=(("<start_of_image>", CONTROL), ("<end_of_image>", CONTROL), ("<image_soft_token>", CONTROL)),
        add_space_prefix=False,
        required=("\n\n", "\n"),
        weighted=_WEIGHTED,
    )
    meta = TokenizerMetadata(
        bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>", add_bos=True, chat_template=template, pre_tokenizer=None,
        add_space_prefix=False,
    )  # fmt: skip
    return TwinVocab("spm", None, recipe, meta)


def mistral(template: str) -> TwinVocab:
    """Mistral / LLaMA-2 SentencePiece: <unk> <s> </s> at ids 0-2, a space before the first piece. Without
    "▁A"/"▁B" pieces: " A" and " B" both start with "▁", as in the vocabulary the research twin learned,
    so the judge has to find answer labels this vocabulary tells apart."""
    recipe = SpmRecipe(
        corpus=_corpus("[INST] What is in the picture? [/INST] A cat."),
        n_pieces=N_MERGES,
        leading=(("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)),
        add_space_prefix=True,
        weighted=_WEIGHTED,
        excluded=(f"{SPM_SPACE}A", f"{SPM_SPACE}B"),
    )
    meta = TokenizerMetadata(
        bos="<s>", eos="</s>", unk="<unk>", add_bos=True, chat_template=template, pre_tokenizer=None
    )
    return TwinVocab("spm", None, recipe, meta)
