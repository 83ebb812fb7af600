"""The conversation the native engine holds: follow-ups read only their own turn, on any chat
template; history restored with ids or text; regenerating; switching conversations."""

from __future__ import annotations

import dataclasses

import pytest
from tests.fixtures.engine import (
    FOLLOW_UP,
    GREEDY,
    QUESTION,
    assert_same_greedy,
    cells,
    expected_prompt_tokens,
    flipped_png,
    past,
    search,
    stage_tokens,
)
from tests.fixtures.gguf_template import SPACED_ASSISTANT_TEMPLATE, copy_with_template

from stagelens.engine import Engine, LoadSettings, PastTurn, Trace, UserTurn
from stagelens.engine.prompt import ChatTemplate, Message
from stagelens.images import load_image


@pytest.fixture(scope="module")
def spaced_engine(tiny_model, tmp_path_factory):
    """The tiny model with a template that renders a past answer as "Assistant: {answer}" but asks
    for one with "Assistant:" (as SmolVLM's does)."""
    text = copy_with_template(
        tiny_model.text, tmp_path_factory.mktemp("spaced") / "spaced-text.gguf", SPACED_ASSISTANT_TEMPLATE
    )
    eng = Engine(LoadSettings(str(text), str(tiny_model.mmproj), n_ctx=4096))
    yield eng
    eng.close()


# what each template adds for a follow-up after the model's last token, written out by hand
NEW_TURN = {
    "chatml": "<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n",
    "spaced": "<|im_end|>\n<|im_start|>User: {q}<|im_end|>\nAssistant:",
}


@pytest.mark.parametrize("template", ["chatml", "spaced"])
def test_follow_up_reads_only_its_new_turn(template, engine, spaced_engine, scene):
    eng = engine if template == "chatml" else spaced_engine
    eng.reset_cache()
    first_turn = UserTurn(QUESTION, (scene,))
    first = eng.answer(first_turn, settings=search(beam=2))
    assert first.stats.image_encodes == 1
    new_turn_tokens = eng.tokenize(NEW_TURN[template].format(q=FOLLOW_UP))

    second = eng.answer(UserTurn(FOLLOW_UP), [past(first_turn, first)], settings=search(beam=2))
    assert second.stats.image_encodes == 0
    assert second.stats.prompt_tokens == len(new_turn_tokens) - 1  # the last one is decoded by each candidate
    # the model read exactly its own first answer's ids, then the new turn
    expected = eng.prompt_units(QUESTION, [scene]) + first.assistant_tokens + new_turn_tokens + second.assistant_tokens
    held = eng._native._trunk_units()
    assert [u if isinstance(u, int) else u.id for u in held] == [u if isinstance(u, int) else u.id for u in expected]


def test_the_spaced_template_renders_the_past_differently_from_what_the_model_read(tiny_model):
    # why re-rendering the conversation missed the cache for such templates
    tpl = ChatTemplate(SPACED_ASSISTANT_TEMPLATE)
    asked = tpl.render([Message("user", "q")], add_generation_prompt=True)
    rendered = tpl.render([Message("user", "q"), Message("assistant", "<SUMMARY>")], add_generation_prompt=False)
    assert not rendered.startswith(asked + "<SUMMARY>")
    assert tpl.turn_pieces() == ("<|im_end|>\n<|im_start|>User: ", "<|im_end|>\nAssistant:")


def test_chatml_new_turn_is_what_a_full_render_adds(engine, scene):
    # the hand-written ChatML turn agrees with rendering the whole conversation by the template
    tpl = engine.template
    answer = "<SUMMARY> a </SUMMARY>"
    before = tpl.render([Message("user", f"{engine.marker}\n{QUESTION}")], add_generation_prompt=True) + answer
    full = tpl.render(
        [
            Message("user", f"{engine.marker}\n{QUESTION}"),
            Message("assistant", answer),
            Message("user", FOLLOW_UP),
        ]
    )
    assert full.startswith(before)
    assert full[len(before) :] == NEW_TURN["chatml"].format(q=FOLLOW_UP)


def test_history_restored_with_ids_or_with_text_only(engine, make_engine, scene):
    first_turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(first_turn, settings=search(beam=2))
    prompt = engine.prompt_units(QUESTION, [scene])
    new_turn = engine.tokenize(NEW_TURN["chatml"].format(q=FOLLOW_UP))
    as_text = engine._native.tokenize(first.assistant_text.encode(), False, False)
    restored = {
        "ids": (past(first_turn, first), first.assistant_tokens),
        "text": (past(first_turn, first, ids=False), as_text),
        "another model's ids": (dataclasses.replace(past(first_turn, first), model_key="another model"), as_text),
        "ids outside the vocabulary": (
            dataclasses.replace(past(first_turn, first), assistant_tokens=(10**9,)),
            as_text,
        ),
    }
    fresh = make_engine()
    for label, (earlier, answer_ids) in restored.items():
        fresh.reset_cache()
        trace = fresh.answer(UserTurn(FOLLOW_UP), [earlier], settings=GREEDY)
        assert trace.stats.image_encodes == 1, label
        assert trace.stats.prompt_tokens == cells(prompt) + len(answer_ids) + len(new_turn) - 1, label
        held = fresh._native._trunk_units()
        assert held[len(prompt) : len(prompt) + len(answer_ids)] == answer_ids, label


def test_regenerate_reads_nothing_but_the_pending_token(engine, scene):
    first_turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(first_turn, settings=search(beam=2))
    history = [past(first_turn, first)]
    follow = UserTurn(FOLLOW_UP)
    original = engine.answer(follow, history, settings=search(beam=2, seed=3))
    other = engine.answer(follow, history, settings=search(beam=2, seed=4))  # regenerate: a new answer
    assert other.stats.prompt_tokens == 0 and other.stats.image_encodes == 0
    assert stage_tokens(other) != stage_tokens(original)
    again = engine.answer(follow, history, settings=search(beam=2, seed=3))  # the first one's cells are gone
    assert again.stats.prompt_tokens == 0
    assert stage_tokens(again) == stage_tokens(original)
    # the first question regenerated, with the whole follow-up dropped
    regenerated = engine.answer(first_turn, settings=search(beam=2))
    assert regenerated.stats.prompt_tokens == 0 and regenerated.stats.image_encodes == 0
    assert stage_tokens(regenerated) == stage_tokens(first)


def test_partial_kv_removal_refused_drops_the_cache_and_reads_everything_again(engine, scene):
    first_turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(first_turn, settings=search(beam=2))
    prompt_cells = cells(engine.prompt_units(QUESTION, [scene]))
    engine._native._inject_fault("seq_rm", 1)  # the memory refuses to cut the answer off
    again = engine.answer(first_turn, settings=search(beam=2))
    assert again.stats.image_encodes == 1
    assert again.stats.prompt_tokens == prompt_cells - 1
    assert stage_tokens(again) == stage_tokens(first)


def test_switching_between_two_conversations_truncates_correctly(engine, make_engine, scene, scene_png):
    flipped = load_image(flipped_png(scene_png), name="flipped.png")
    start = UserTurn(QUESTION, (scene,))
    shared = engine.answer(start, settings=search(beam=2))
    history = [past(start, shared)]
    greedy = dataclasses.replace(GREEDY, max_stage_tokens=6)
    fresh = make_engine()

    def ask(name: str, turn: UserTurn, earlier: list[PastTurn]) -> Trace:
        held = engine._native._trunk_units()
        trace = engine.answer(turn, earlier, settings=greedy)
        trunk = engine._native._trunk_units()
        prompt = trunk[: len(trunk) - len(trace.assistant_tokens)]
        assert trace.stats.prompt_tokens == expected_prompt_tokens(held, prompt), name
        fresh.reset_cache()
        fresh.answer(turn, earlier, settings=greedy)
        assert_same_greedy(engine, fresh)
        return trace

    turn_a, turn_b = UserTurn(FOLLOW_UP), UserTurn("Which one is biggest?", (flipped,))
    a = ask("A", turn_a, history)
    assert a.stats.image_encodes == 0
    b = ask("B", turn_b, history)  # the same first exchange, another follow-up: A's turn is cut off
    assert b.stats.image_encodes == 1  # B's new image, nothing else
    again = ask("A again", turn_a, history)
    assert again.stats.image_encodes == 0 and stage_tokens(again) == stage_tokens(a)
    ask("another conversation", UserTurn("Describe the image.", (flipped,)), [])
    third = ask("A, third turn", UserTurn("And green triangles?"), [*history, past(turn_a, a)])
    assert third.stats.image_encodes == 1  # everything read again


def test_changed_image_is_not_served_from_cache(engine, scene, scene_png):
    engine.answer(UserTurn(QUESTION, (scene,)), settings=search(beam=1))
    flipped = load_image(flipped_png(scene_png), name="flipped.png")
    assert flipped.digest != scene.digest
    trace = engine.answer(UserTurn(QUESTION, (flipped,)), settings=search(beam=1))
    assert trace.stats.image_encodes == 1
    # a changed image max side gives other pixels, so also a fresh encode
    smaller = load_image(scene_png, max_side=48)
    assert engine.answer(UserTurn(QUESTION, (smaller,)), settings=search(beam=1)).stats.image_encodes == 1


def test_several_images_are_each_encoded_once(engine, scene, scene_png):
    flipped = load_image(flipped_png(scene_png), name="flipped.png")
    first_turn = UserTurn(QUESTION, (scene, flipped))
    first = engine.answer(first_turn, settings=search(beam=2))
    assert first.stats.image_encodes == 2
    third = load_image(scene_png, max_side=48)
    follow = engine.answer(UserTurn("And in this one?", (third,)), [past(first_turn, first)], settings=search(beam=2))
    assert follow.stats.image_encodes == 1


def test_a_question_quoting_the_media_marker_claims_no_image(engine, scene):
    marker = engine.marker
    question = f"What does {marker} mean in this picture?"
    trace = engine.answer(UserTurn(question, (scene,)), settings=search(beam=1))
    assert trace.stats.image_encodes == 1 and len(trace.stages) == 4
    assert engine.renderer.first(UserTurn(question, (scene,))).text.count(marker) == 1
    history = [PastTurn(UserTurn(question, (scene,)), f"<SUMMARY>It quotes {marker}.</SUMMARY>")]
    follow_up = engine.answer(UserTurn(f"And {marker} again?"), history, settings=search(beam=1))
    assert len(follow_up.stages) == 4, "a marker in the earlier answer claims no image either"


def test_nul_bytes_in_questions_and_answers_are_text(engine, scene):
    assert engine._native.detokenize(engine.tokenize("a\x00b"), False) == b"a\x00b"
    question = "What is\x00 this?"
    first_turn = UserTurn(question, (scene,))
    first = engine.answer(first_turn, settings=search(beam=1))
    assert len(first.stages) == 4
    answer = "<SUMMARY>two\x00circles</SUMMARY>"
    for earlier in (PastTurn(first_turn, answer), past(first_turn, first)):  # as text, and as ids
        trace = engine.answer(UserTurn("And\x00 now?"), [earlier], settings=search(beam=1))
        assert len(trace.stages) == 4
    held = engine._native._trunk_units()
    assert engine._native.detokenize([u for u in held if isinstance(u, int)], False).count(b"\x00") >= 2


def test_image_chunks_describe_themselves(engine, scene):
    units = engine.prompt_units(QUESTION, [scene])
    (chunk,) = [u for u in units if not isinstance(u, int)]
    assert chunk.id == f"{scene.digest}#0"  # the pixels and the image's place in its turn
    assert chunk.n_tokens == 16 and chunk.n_pos == 16 and chunk.image_start
    assert repr(chunk) == f"<ImageChunk id={scene.digest[:12]}... tokens=16>"


def test_segment_keys_name_what_the_engine_holds(engine, scene):
    from stagelens.engine.conversation import token_key

    engine.reset_cache()
    assert engine._native.segment_keys() == []
    first_turn = UserTurn(QUESTION, (scene,))
    first = engine.answer(first_turn, settings=search(beam=1))
    user, answer = engine._native.segment_keys()
    assert user[:1] == b"U" and answer == token_key(first.assistant_tokens)
    engine.answer(UserTurn(FOLLOW_UP), [past(first_turn, first, ids=False)], settings=search(beam=1))
    assert [k[:1] for k in engine._native.segment_keys()] == [b"U", b"A", b"U", b"T"]
