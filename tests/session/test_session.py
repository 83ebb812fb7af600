"""The session on its own (no Qt): a real engine on the tiny model answering synchronously, a real
history in tmp_path. Ask, follow up, regenerate, stop, failures, and what the model is given."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stagelens.engine import ContextOverflowError
from stagelens.history import HistoryStore
from stagelens.images import ImageLoader
from stagelens.session import EngineRunner, Session, Turn, UserTurn, request_for
from stagelens.settings import AppSettings, SearchSettings

SETTINGS = AppSettings(beam=2, max_stage_tokens=10, n_ctx=4096)


@pytest.fixture()
def loader() -> ImageLoader:
    return ImageLoader(inline=True)


@pytest.fixture()
def make_session(engine, loader, tmp_path):
    """Sessions on the shared tiny engine (never closed here: other tests use it)."""

    def make(store: HistoryStore | None = None, **settings) -> Session:
        if {"beam", "scorer", "temperature"} & settings.keys():  # numbers of its own: no preset
            settings.setdefault("preset", "custom")
        session = Session(EngineRunner(engine), store, loader, replace(SETTINGS, **settings))
        assert session.model_ready, "a runner holding an engine reports it at once"
        return session

    return make


@pytest.fixture()
def store(tmp_path) -> HistoryStore:
    return HistoryStore(tmp_path / "history")


def record(session: Session) -> list[str]:
    seen: list[str] = []
    session.turn_added.connect(lambda turn: seen.append("turn_added"))
    session.answer_started.connect(lambda turn, answer: seen.append("answer_started"))
    session.answer_updated.connect(lambda turn, answer, event: seen.append(f"update:{event.kind}"))
    session.answer_finished.connect(lambda turn, answer, error: seen.append(f"finished:{error}"))
    session.conversations_changed.connect(lambda: seen.append("conversations_changed"))
    return seen


def test_ask_answers_saves_and_tells_its_observers(make_session, store, loader, scene_png):
    session = make_session(store)
    seen = record(session)
    image = loader.from_bytes(scene_png, "scene.png", ".png", 768)
    turn = session.ask("  How many circles?  ", [image])
    assert turn is not None and turn.question == "How many circles?" and session.running is None
    answer = turn.answer
    assert answer.trace is not None and not answer.live and answer.error is None
    assert answer.trace.images[0]["sent_size"] == [96, 72]
    assert seen[:2] == ["turn_added", "answer_started"] and "update:text" in seen
    assert seen[-2:] == ["conversations_changed", "finished:None"], "saved before the views hear it finished"
    conversation = session.conversation
    assert conversation.id is not None and conversation.title == "How many circles?"
    assert [c.title for c in session.conversations()] == ["How many circles?"]
    assert [p.name for p in store.image_files()] == [f"{image.digest}.png"], "stored under the engine's digest"


def test_nothing_is_asked_without_a_question_or_while_answering(make_session, store):
    session = make_session(store)
    assert session.ask("   ") is None and session.conversation.turns == []
    asked: list[object] = []
    session.answer_started.connect(lambda turn, answer: asked.append(session.ask("again?")))
    session.ask("first?")
    assert asked == [None] and len(session.conversation.turns) == 1


def test_follow_up_reads_only_its_own_turn(make_session, loader, scene_png):
    session = make_session()
    first = session.ask("What is this?", [loader.from_bytes(scene_png, "scene.png", ".png", 768)])
    second = session.ask("And what colour is it?")
    assert first.answer.trace is not None and second.answer.trace is not None
    assert second.answer.trace.stats.image_encodes == 0, "the first turn's image is reused, not encoded again"
    user, history = request_for(session.conversation.turns, 1).resolve()
    assert user == UserTurn("And what colour is it?", ())
    assert [(p.user.question, p.assistant_text) for p in history] == [
        ("What is this?", first.answer.trace.assistant_text)
    ]
    assert history[0].user.images[0].digest == first.images[0].digest
    trace = first.answer.trace
    assert history[0].assistant_tokens == tuple(trace.assistant_tokens) and trace.assistant_tokens
    assert history[0].model_key == trace.model.key is not None, "the ids go back with the model they belong to"
    assert second.answer.trace.stats.prompt_tokens < trace.stats.prompt_tokens, "only the new turn is read"


def test_regenerate_keeps_both_versions_and_selection_is_saved(make_session, store):
    session = make_session(store)
    turn = session.ask("What is here?")
    assert session.regenerate(turn)
    assert len(turn.versions) == 2 and turn.selected == 1
    assert turn.versions[0].trace.settings["seed"] != turn.versions[1].trace.settings["seed"]
    session.select_version(turn, 0)
    assert turn.selected == 0
    reopened = store.load_conversation(session.conversation.id, lambda *a: None)
    assert len(reopened.turns[0].versions) == 2 and reopened.turns[0].selected == 0
    assert not session.regenerate(Turn("not in this chat", [])), "only a turn of the open conversation"


def test_stop_mid_answer_keeps_the_partial_answer_and_leaves_it_out_after(make_session, store):
    session = make_session(store, max_stage_tokens=400, beam=1)
    stopped: list[bool] = []

    def stop_on_first_text(turn, answer, event) -> None:
        if event.kind == "text" and not stopped:
            stopped.append(session.stop())

    session.answer_updated.connect(stop_on_first_text)
    turn = session.ask("Describe everything.")
    assert stopped == [True] and turn.answer.trace is not None and turn.answer.trace.cancelled
    assert turn.answer.stopped and not turn.usable_for_history()
    session.answer_updated.disconnect(stop_on_first_text)
    later = session.ask("Something else?")
    user, history = request_for(session.conversation.turns, 1).resolve()
    assert history == () and later.answer.trace is not None, "the stopped turn is not given to the model"
    assert store.load_conversation(session.conversation.id, lambda *a: None).turns[0].answer.trace.cancelled


def test_a_failed_turn_is_left_out_but_its_images_stay_with_the_chat(make_session, store, loader, scene_png):
    session = make_session(store)
    image = loader.from_bytes(scene_png, "scene.png", ".png", 768)
    failed = session.ask("why " * 6000, [image])
    assert failed.answer.trace is None and isinstance(failed.answer.cause, ContextOverflowError)
    assert failed.answer.error[0].isupper(), "one sentence for the user"
    follow = session.ask("What is in the picture?")
    assert follow.answer.trace is not None
    user, history = request_for(session.conversation.turns, 1).resolve()
    assert history == () and [i.digest for i in user.images] == [image.digest]
    assert follow.answer.trace.images[0]["sent_size"] == [96, 72], "the image went with the next turn"
    saved = store.load_conversation(session.conversation.id, lambda *a: None)
    assert saved.turns[0].answer.error == failed.answer.error


def test_reopening_from_the_history_gives_the_engine_the_same_input(make_session, store, loader, scene_png):
    session = make_session(store)
    session.ask("What is this?", [loader.from_bytes(scene_png, "scene.png", ".png", 768)])
    session.ask("why " * 6000)  # fails: left out
    session.ask("And now?")
    live = request_for(session.conversation.turns, 2).resolve()
    conversation_id = session.conversation.id

    again = make_session(HistoryStore(store.folder))
    assert again.open(conversation_id)
    reopened = again.conversation
    assert [t.question for t in reopened.turns] == [t.question for t in session.conversation.turns]
    assert request_for(reopened.turns, 2).resolve() == live
    follow = again.ask("One more?")
    assert follow.answer.trace is not None and len(request_for(reopened.turns, 3).resolve()[1]) == 2


def test_new_open_rename_delete(make_session, store):
    session = make_session(store)
    session.ask("about zebras")
    zebras = session.conversation.id
    opened: list[object] = []
    session.conversation_opened.connect(lambda conversation: opened.append(conversation.id))
    session.new()
    assert session.conversation.id is None and opened == [None]
    session.ask("about giraffes")
    assert session.open(zebras) and opened[-1] == zebras
    session.rename(zebras, "Zebra chat")
    assert session.conversation.title == "Zebra chat" and store.conversation(zebras).title == "Zebra chat"
    session.delete(zebras)
    assert session.conversation.id is None and [c.title for c in session.conversations()] == ["about giraffes"]
    assert not session.open(zebras)


def test_search_settings_of_one_question(make_session):
    session = make_session()
    turn = session.ask("Greedy?", search=SearchSettings(beam=1, max_stage_tokens=6, seed=7))
    assert turn.answer.trace.settings["beam"] == 1 and turn.answer.trace.settings["seed"] == 7
    default = session.ask("And with the settings?")
    assert default.answer.trace.settings["beam"] == SETTINGS.beam


def test_images_are_sent_at_the_new_size_after_settings_change(tiny_model, loader, scene_png, tmp_path):
    files = {"model_text": str(tiny_model.text), "model_mmproj": str(tiny_model.mmproj)}
    runner = EngineRunner()
    session = Session(runner, HistoryStore(tmp_path / "h"), loader, replace(SETTINGS, **files))
    loaded: list[str] = []
    session.model_loaded.connect(lambda info: loaded.append(info.backend))
    session.load_model()
    try:
        assert session.model_ready and loaded == ["CPU"] and session.model.kind == "local"
        turn = session.ask("What is this?", [loader.from_bytes(scene_png, "scene.png", ".png", 768)])
        assert turn.images[0].sent_size == (96, 72)
        session.apply_settings(replace(session.settings, image_max_side=64))
        assert turn.images[0].sent_size == (64, 48) and runner.engine.settings.image_max_side == 64
        again = session.regenerate(turn) and turn.answer.trace
        assert again and again.images[0]["sent_size"] == [64, 48] and loaded == ["CPU", "CPU"]
    finally:
        session.close()


def test_a_model_that_cannot_load_is_reported(loader, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf")
    session = Session(EngineRunner(), None, loader, replace(SETTINGS, model_text=str(broken), model_mmproj=str(broken)))
    failures: list[str] = []
    session.model_failed.connect(failures.append)
    session.load_model()
    assert not session.model_ready and len(failures) == 1 and failures[0][0].isupper()
    assert session.ask("anything?") is None
