"""A projector fits a text model when the width it computes (from its tensors, per projector type, as
llama.cpp's clip_n_mmproj_embd does) is the width the text model takes in: every twin's pair fits,
LLaVA 1.6's legacy projection_dim (CLIP's own, not the LM's) is not trusted, mixed pairs are refused."""

from __future__ import annotations

import pytest

from stagelens.engine import ModelMismatchError, check_projector_fits
from stagelens.models.gguf_file import read_gguf_header
from stagelens.models.gguf_info import read_gguf_info
from stagelens.models.projector_width import projector_output_width, text_input_width
from stagelens_dev.testmodels.twins import FAMILIES, make_twin


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "twins"
    return {f.key: make_twin(f.key, root) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.key)
def test_every_twin_pair_fits(family, twins):
    files = twins[family.key]
    width = projector_output_width(read_gguf_header(files.mmproj))
    assert width == text_input_width(read_gguf_header(files.text))
    check_projector_fits(files.text, files.mmproj)
    assert read_gguf_info(files.mmproj).projection_dim == width


def test_llava_16s_stated_projection_dim_is_not_the_width(twins):
    header = read_gguf_header(twins["llava-1.6"].mmproj)
    assert header.get("clip.vision.projection_dim") == 24  # what the legacy converter writes: CLIP's own
    assert projector_output_width(header) == 64  # mm.2.weight's output, what libmtmd checks


def test_deepstack_layers_widen_both_sides(twins):
    text, mmproj = read_gguf_header(twins["qwen3-vl"].text), read_gguf_header(twins["qwen3-vl"].mmproj)
    assert text.get("qwen3vl.embedding_length") == 64 and text.get("qwen3vl.n_deepstack_layers") == 3
    assert text_input_width(text) == projector_output_width(mmproj) == 64 * (1 + 3)


@pytest.mark.parametrize(("text", "mmproj"), [("qwen2.5-vl", "qwen3-vl"), ("qwen3-vl", "llava-1.6")])
def test_a_projector_of_another_width_is_refused(twins, text, mmproj):
    with pytest.raises(ModelMismatchError, match="projects to .*-wide embeddings but"):
        check_projector_fits(twins[text].text, twins[mmproj].mmproj)
