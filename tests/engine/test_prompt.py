"""Chat templates: the model's own (sandboxed), the declared fallback, turn pieces for the judge."""

from __future__ import annotations

import pytest
from tests.fixtures.gguf_template import copy_with_template

from stagelens.engine import UserTurn
from stagelens.engine.prompt import ChatTemplate, Message, TemplateError
from stagelens.engine.rendering import TurnRenderer
from stagelens.engine.stage_text import stage_texts

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_chatml_renders_and_gives_turn_pieces():
    tpl = ChatTemplate(CHATML, bos_token="<|endoftext|>", eos_token="<|im_end|>")
    text = tpl.render([Message("user", "hi")])
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tpl.turn_pieces() == ("<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
    stages, judge = stage_texts(tpl.turn_pieces())
    assert stages[0].judge_head.startswith("<|im_end|>\n<|im_start|>user\n")
    assert judge.tail.endswith("<|im_start|>assistant\nThe better candidate is")
    assert [s.forced_open for s in stages] == ["<SUMMARY>", "\n\n<CAPTION>", "\n\n<REASONING>", "\n\n<CONCLUSION>"]


def test_templates_see_real_bos_and_eos():
    source = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}"
    tpl = ChatTemplate(source, "<s>", "</s>")
    assert tpl.render([Message("user", "a"), Message("assistant", "b")], add_generation_prompt=False) == "<s>a</s>b</s>"


def test_template_is_sandboxed():
    tpl = ChatTemplate("{{ messages.__class__.__mro__ }}")
    with pytest.raises(TemplateError):
        tpl.render([Message("user", "x")])


def test_template_raise_exception_becomes_template_error():
    tpl = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(TemplateError, match="roles must alternate"):
        tpl.render([Message("user", "x")])


def test_model_without_template_uses_the_declared_fallback(tiny_model, tmp_path, scene):
    from stagelens.engine import Engine, LoadSettings, SearchSettings

    bare = copy_with_template(tiny_model.text, tmp_path / "no-template.gguf", None)
    with Engine(LoadSettings(str(bare), str(tiny_model.mmproj), n_ctx=2048)) as eng:
        assert eng.info["chat_template"] is None
        assert eng.template.is_fallback
        assert eng.renderer.first(UserTurn("What?", (scene,))).text == "USER: <__media__>\nWhat?\nASSISTANT: "
        assert eng.renderer.follow_up(UserTurn("And?")).text == "\nUSER: And?\nASSISTANT: "
        assert eng.renderer.first(UserTurn("What?"), "Use four stages.").text.startswith("SYSTEM: Use four stages.\n")
        trace = eng.answer(UserTurn("What?", (scene,)), settings=SearchSettings(beam=1, seed=1, max_stage_tokens=4))
        assert trace.model.template == "fallback"
        assert len(trace.stages) == 4


def test_turn_renderer_builds_follow_ups_from_the_turn_pieces():
    tpl = ChatTemplate(CHATML, bos_token="<|endoftext|>", eos_token="<|im_end|>")
    renderer = TurnRenderer(tpl, "<__media__>")
    first = renderer.first(UserTurn("hi"))
    assert first.text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" and first.add_special
    follow = renderer.follow_up(UserTurn("and <__media__>?"))
    assert follow.text == "<|im_end|>\n<|im_start|>user\nand <\u200b__media__>?<|im_end|>\n<|im_start|>assistant\n"
    assert not follow.add_special


def test_a_template_that_writes_bos_itself_gets_none_added():
    tpl = ChatTemplate("{{ bos_token }}" + CHATML, bos_token="<s>")
    assert not TurnRenderer(tpl, "<__media__>").first(UserTurn("hi")).add_special


def test_a_template_without_turn_pieces_refuses_follow_ups_clearly():
    tpl = ChatTemplate("{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}x")
    renderer = TurnRenderer(tpl, "<__media__>")
    assert renderer.pieces is None
    assert renderer.first(UserTurn("hi")).text == "x"
    with pytest.raises(TemplateError, match="cannot take follow-up questions"):
        renderer.follow_up(UserTurn("and?"))


# ------------------------------------------------------------ what a template takes, as llama.cpp finds it

# reads content only as parts, like SmolVLM's published template: a plain string is silently dropped
PARTS_ONLY = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: "
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
NO_SYSTEM = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)


def test_a_template_that_drops_plain_strings_gets_typed_content():
    tpl = ChatTemplate(PARTS_ONLY)
    assert tpl.typed_content and tpl.system_role
    assert tpl.render([Message("user", "<__media__>\nhi")]) == "User: <__media__>\nhi<end_of_utterance>\nAssistant:"
    assert tpl.turn_pieces() == ("<end_of_utterance>\nUser: ", "<end_of_utterance>\nAssistant:")
    assert not ChatTemplate(CHATML).typed_content


def test_a_template_without_a_system_role_gets_it_at_the_start_of_the_first_user_turn():
    tpl = ChatTemplate(NO_SYSTEM, bos_token="<s>", eos_token="</s>")
    assert not tpl.system_role and not tpl.typed_content
    text = tpl.render([Message("system", "Use four stages."), Message("user", "hi")])
    assert text == "<s>[INST] Use four stages.\nhi [/INST]"  # merged as llama.cpp's chat code merges it
    assert ChatTemplate(CHATML).system_role


def test_the_format_instruction_goes_where_the_template_allows(tiny_model, tmp_path):
    renderer = TurnRenderer(ChatTemplate(NO_SYSTEM, "<s>", "</s>"), "<__media__>")
    assert renderer.first(UserTurn("hi"), "Use four stages.").text == "<s>[INST] Use four stages.\nhi [/INST]"
    chatml = TurnRenderer(ChatTemplate(CHATML), "<__media__>")
    assert chatml.first(UserTurn("hi"), "Use four stages.").text.startswith("<|im_start|>system\nUse four stages.")
    assert chatml.first(UserTurn("hi"), None).text == chatml.first(UserTurn("hi")).text


def test_a_template_error_of_any_kind_is_a_template_error():
    tpl = ChatTemplate("{{ messages[0]['content'] + 1 }}")  # TypeError inside the template
    with pytest.raises(TemplateError, match="chat template failed"):
        tpl.render([Message("user", "x")])
