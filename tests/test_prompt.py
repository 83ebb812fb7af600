"""Chat templates: the model's own (sandboxed), the declared fallback, turn pieces for the judge."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from stagelens.engine.prompt import ChatTemplate, Message, TemplateError, stage_texts

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


def _copy_without(src: Path, dst: Path, drop: str) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.get_field("general.architecture").contents()
    writer = gguf.GGUFWriter(dst, arch)
    for name, field in reader.fields.items():
        if name == drop or name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_array(name, field.contents())
        else:
            writer.add_key_value(name, field.contents(), vtype)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_model_without_template_uses_the_declared_fallback(tiny_model, tmp_path, scene):
    from stagelens.engine import Engine, LoadSettings, SearchSettings

    bare = tmp_path / "no-template.gguf"
    _copy_without(tiny_model.text, bare, "tokenizer.chat_template")
    with Engine(LoadSettings(str(bare), str(tiny_model.mmproj), n_ctx=2048)) as eng:
        assert eng.info["chat_template"] is None
        assert eng.template.is_fallback
        assert eng.render_prompt((), "What?", 1) == "USER: <__media__>\nWhat?\nASSISTANT: "
        trace = eng.answer([scene], "What?", settings=SearchSettings(beam=1, seed=1, max_stage_tokens=4))
        assert trace.model.template == "fallback"
        assert len(trace.stages) == 4
