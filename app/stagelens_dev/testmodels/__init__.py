"""Random-weight GGUF models the tests and benchmarks run: the ``tiny`` and ``bench`` presets.

``make_test_model(preset, out_dir, seed=0)`` is the entry point; the presets are built on the
project's one GGUF writer (`stagelens_dev.gguf_write`) and one BPE tokenizer writer
(`stagelens_dev.tokenizer`). Architecture writers live in their own modules (``llava``: LLaMA
text + LLaVA "mlp" projector).
"""

from stagelens_dev.testmodels.presets import (
    BENCH,
    GENERATOR_VERSION,
    PRESETS,
    TINY,
    Preset,
    TestModelFiles,
    make_test_model,
    preset_named,
    write_projector,
    write_text_model,
)
from stagelens_dev.testmodels.vocab import CHAT_TEMPLATE, SPECIAL_TOKENS, STAGE_TAGS, vocabulary

__all__ = [
    "BENCH",
    "CHAT_TEMPLATE",
    "GENERATOR_VERSION",
    "PRESETS",
    "SPECIAL_TOKENS",
    "STAGE_TAGS",
    "TINY",
    "Preset",
    "TestModelFiles",
    "make_test_model",
    "preset_named",
    "vocabulary",
    "write_projector",
    "write_text_model",
]
