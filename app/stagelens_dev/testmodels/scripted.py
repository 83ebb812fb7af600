"""Scripted GGUF models: their output is fixed by construction, so each misbehaviour is reproducible.

The model is *first order*: the next token depends only on the current one. Attention and the
feed-forward layer write nothing into the residual stream (their output weights are zero), so the
last hidden state is the current token's embedding, and the output head maps each token's embedding
onto its chosen successor (scripts.py): the successor's logit is ~30 nats above every other one, so
greedy decoding and sampling at any usual temperature write the script, token by token.

The vocabulary: the 256 byte tokens (every prompt tokenizes to bytes), ChatML's control tokens, the
eight stage tags as USER_DEFINED tokens (so the tag the engine writes when it forces a stage is one
token, whose successor says what the model writes in that stage), and one NORMAL token per piece of
the script. The projector is the tiny preset's, made as wide as the text model.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from stagelens_dev import gguf_write
from stagelens_dev.gguf_write import GeneratorStamp
from stagelens_dev.testmodels import vocab as test_vocab
from stagelens_dev.testmodels.llava import TensorStream, TextSpec, write_mmproj, write_text_gguf
from stagelens_dev.testmodels.presets import TINY, TestModelFiles
from stagelens_dev.testmodels.scripts import ANY_BY_NAME, EOS, TAGS, Script, pieces, successors
from stagelens_dev.tokenizer import Vocab, build_vocab, byte_encode

__all__ = ["SCRIPTED_GENERATOR_VERSION", "make_scripted_model", "scripted_vocab"]

# Bump whenever the bytes written for a given script change.
SCRIPTED_GENERATOR_VERSION = 1
N_EMBD = 256
LOGIT_MARGIN = 30.0

SPEC = TextSpec(
    n_embd=N_EMBD,
    n_layer=1,
    n_head=4,
    n_head_kv=4,
    n_ff=64,
    n_ctx=4096,
    rope_freq_base=10000.0,
    vocab_size=None,
    dtype=np.float32,
    quantize_q4_0=False,
    logit_std=0.0,  # unused: the head is built from the script
)


def scripted_vocab(script: Script) -> Vocab:
    newline = byte_encode("\n")
    base = build_vocab([(newline, newline)], test_vocab.SPECIAL_TOKENS, user_defined=TAGS)  # llama.cpp wants a merge
    extra = [byte_encode(p) for p in pieces(script)]
    clash = set(extra) & set(base.tokens)
    if clash:
        raise ValueError(f"script {script.name}: pieces {sorted(clash)} are already tokens")
    return Vocab(
        base.tokens + tuple(extra),
        base.types + (int(gguf.TokenType.NORMAL),) * len(extra),
        base.merges,
        base.special_tokens,
    )


def _token_of(vocab: Vocab, piece: str) -> int:
    return vocab.id_of(piece if piece in TAGS or piece == EOS else byte_encode(piece))


def _tensors(script: Script, vocab: Vocab, seed: int) -> TensorStream:
    rng = np.random.default_rng([seed, 2])
    n_vocab, d = len(vocab.tokens), SPEC.n_embd
    emb = rng.standard_normal((n_vocab, d)).astype(np.float32)
    emb *= np.sqrt(d) / np.linalg.norm(emb, axis=1, keepdims=True)  # RMS 1: the norm layers leave it as is
    head = np.zeros((n_vocab, d), np.float32)
    for piece, after in successors(script).items():
        head[_token_of(vocab, after)] += emb[_token_of(vocab, piece)] * np.float32(LOGIT_MARGIN / d)
    zeros = np.zeros((d, d), np.float32)
    ones = np.ones(d, np.float32)
    yield "token_embd.weight", emb
    yield "blk.0.attn_norm.weight", ones
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        yield f"blk.0.{name}.weight", zeros
    yield "blk.0.ffn_norm.weight", ones
    yield "blk.0.ffn_gate.weight", np.zeros((SPEC.n_ff, d), np.float32)
    yield "blk.0.ffn_up.weight", np.zeros((SPEC.n_ff, d), np.float32)
    yield "blk.0.ffn_down.weight", np.zeros((d, SPEC.n_ff), np.float32)
    yield "output_norm.weight", ones
    yield "output.weight", head


def make_scripted_model(name: str, out_dir: Path, *, seed: int = 0) -> TestModelFiles:
    """Write (or reuse) ``scripted-{name}-text.gguf`` and its projector in ``out_dir``."""
    if name not in ANY_BY_NAME:
        raise ValueError(f"no scripted model is called {name!r}; scripts: {', '.join(ANY_BY_NAME)}")
    script = ANY_BY_NAME[name]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TestModelFiles(text=out_dir / f"scripted-{name}-text.gguf", mmproj=out_dir / f"scripted-{name}-mmproj.gguf")
    text_stamp = GeneratorStamp(SCRIPTED_GENERATOR_VERSION, "text", f"scripted-{name}", seed)
    mmproj_stamp = GeneratorStamp(SCRIPTED_GENERATOR_VERSION, "mmproj", f"scripted-{name}", seed)

    def write_text(path: Path) -> None:
        vocab = scripted_vocab(script)
        write_text_gguf(path, SPEC, vocab, test_vocab.TOKENIZER_METADATA, text_stamp, _tensors(script, vocab, seed))

    gguf_write.ensure_file(files.text, text_stamp, write_text)
    gguf_write.ensure_file(
        files.mmproj, mmproj_stamp, lambda path: write_mmproj(path, TINY.vision, N_EMBD, mmproj_stamp)
    )
    return files
