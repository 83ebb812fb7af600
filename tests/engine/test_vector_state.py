"""llama.cpp's quantized CPU kernels leave the upper halves of the vector registers in use; SSE code run
after them (the per-token pass over the logits, CPython) is then about three times slower on every
vector instruction. The engine clears that state after each decode and at the start of the logits
pass (``sl_cpu.h``). XGETBV(1) tells whether the state is in use, so this is checked directly, not
timed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stagelens.engine import Engine, LoadSettings
from stagelens_dev.testmodels import TINY, write_projector, write_text_model

# Q4_0 weights and a vocabulary padded to 4,096, as the bench preset's (Q4_0, 151,936) leaves the
# state in use too; the F32 tiny preset, or Q4_0 with its own 629 tokens, leave none
TINY_Q4 = replace(
    TINY, name="tiny-q4", text=replace(TINY.text, n_embd=128, n_ff=256, vocab_size=4096, quantize_q4_0=True)
)


@pytest.fixture(scope="module")
def q4_engine(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-q4")
    text, mmproj = out / "text.gguf", out / "mmproj.gguf"
    write_text_model(text, TINY_Q4)
    write_projector(mmproj, TINY, text_width=TINY_Q4.text.n_embd)
    eng = Engine(LoadSettings(str(text), str(mmproj), n_ctx=1024, n_threads=2))
    yield eng
    eng.close()


def test_the_upper_vector_state_is_clear_after_every_decode_and_before_the_logits_pass(q4_engine):
    state = q4_engine._native._vector_state()
    if state is None:
        pytest.skip("this CPU cannot report whether the upper vector state is in use (no XGETBV(1))")
    if not state["after_llama_decode"]:
        pytest.skip("llama.cpp's kernels leave no upper vector state on this CPU: nothing to clear")
    assert state == {
        "after_llama_decode": True,
        "after_engine_decode": False,
        "after_top_k": False,
        "after_log_sum_exp": False,
    }
