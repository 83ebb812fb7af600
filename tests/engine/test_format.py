"""Telling general models the four-stage format: the format instruction (a setting) in the system turn
or the first user turn, none for models trained on the format, and the trace saying which it was."""

from __future__ import annotations

import pytest
from tests.fixtures.engine import QUESTION, search
from tests.fixtures.gguf_template import copy_with_metadata

from stagelens.engine import Engine, LoadSettings, UserTurn
from stagelens.engine.format import TRAINED_FORMAT_KEY, format_prompt, trained_on_format
from stagelens.models.default import demo_model
from stagelens.settings import FORMAT_INSTRUCTION, STAGE_NAMES


def test_the_default_instruction_names_every_stage_and_its_tags():
    for name in STAGE_NAMES:
        assert f"<{name.upper()}>" in FORMAT_INSTRUCTION and f"</{name.upper()}>" in FORMAT_INSTRUCTION
    assert "final answer" in FORMAT_INSTRUCTION and "nothing after </CONCLUSION>" in FORMAT_INSTRUCTION


@pytest.mark.parametrize(
    ("meta", "trained"),
    [
        ({"general.name": "stagelens-demo-shapes"}, True),  # the demo model as shipped
        ({TRAINED_FORMAT_KEY: "true", "general.name": "anything"}, True),  # the demo export's key
        ({TRAINED_FORMAT_KEY: "false", "general.name": "stagelens-demo-shapes"}, False),  # the key wins
        ({"general.name": "SmolVLM 256M Instruct"}, False),
        ({}, False),
    ],
)
def test_which_models_are_trained_on_the_format(meta, trained):
    assert trained_on_format(meta) is trained


def test_where_the_instruction_goes():
    assert format_prompt("Say it in stages.", trained=False, system_role=True).placement == "system"
    assert format_prompt("Say it in stages.", trained=False, system_role=False).placement == "first user turn"
    assert format_prompt("Say it in stages.", trained=True, system_role=True).instruction is None
    assert format_prompt("  ", trained=False, system_role=True).reason == "the format instruction setting is empty"


def test_a_general_model_is_told_in_its_system_turn_and_the_trace_says_so(engine, scene):
    trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=search(beam=1, max_stage_tokens=4))
    assert trace.prompt["format_instruction"] == FORMAT_INSTRUCTION and trace.prompt["placement"] == "system"
    assert trace.settings["format_instruction"] == FORMAT_INSTRUCTION
    told = engine.prompt_units(QUESTION, [scene])
    untold = engine.prompt_units(QUESTION, [scene], search(format_instruction=""))
    assert len(told) - len(untold) == len(engine.tokenize(f"<|im_start|>system\n{FORMAT_INSTRUCTION}<|im_end|>\n"))
    mine = "Think in four stages."
    custom = engine.answer(
        UserTurn(QUESTION, (scene,)), settings=search(beam=1, max_stage_tokens=4, format_instruction=mine)
    )
    assert custom.prompt["format_instruction"] == mine
    assert custom.stats.image_encodes == 1, "another instruction is another first turn: read again"


def test_the_demo_model_is_told_nothing():
    demo = demo_model()
    assert demo is not None, "the demo model ships with the source tree"
    with Engine(LoadSettings(str(demo.text), str(demo.mmproj), n_ctx=1024)) as eng:
        assert eng.trained_on_format
        told = eng.format_prompt()
        assert (told.instruction, told.placement) == (None, "none")
        rendered = eng.renderer.first(UserTurn(QUESTION), told.instruction).text
        assert rendered == "<|im_start|>user\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n"


def test_a_model_that_says_it_is_trained_on_the_format_is_told_nothing(tiny_model, tmp_path, scene):
    flagged = copy_with_metadata(tiny_model.text, tmp_path / "trained.gguf", {TRAINED_FORMAT_KEY: True})
    with Engine(LoadSettings(str(flagged), str(tiny_model.mmproj), n_ctx=2048)) as eng:
        trace = eng.answer(UserTurn(QUESTION, (scene,)), settings=search(beam=1, max_stage_tokens=4))
        assert trace.prompt["format_instruction"] is None and trace.prompt["placement"] == "none"
        assert "trained on the four-stage format" in trace.prompt["reason"]
