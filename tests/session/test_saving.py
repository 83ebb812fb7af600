"""Saving, through the session (no Qt; a real engine on the tiny model, a real history): the question
is written the moment it is asked, the partial answer while it streams, and a write that meets a
lock waits, in order, until it lands, or is kept in a rescue file when the program quits."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import replace

import pytest
from tests.fixtures.damage import Locker, locked, write_history

from stagelens.history import HistoryStore
from stagelens.images import ImageLoader
from stagelens.session import EngineRunner, Session, session
from stagelens.settings import AppSettings

SETTINGS = AppSettings(beam=2, max_stage_tokens=10, n_ctx=4096)


@pytest.fixture()
def make_session(engine, make_engine):
    def make(store: HistoryStore, closes: bool = False, **settings) -> Session:
        """closes: the test closes the session, which closes its engine (its own, then)."""
        runner = EngineRunner(make_engine() if closes else engine)
        made = Session(runner, store, ImageLoader(inline=True), replace(SETTINGS, **settings))
        assert made.model_ready
        return made

    return make


def rows(store: HistoryStore, sql: str, *params) -> list[tuple]:
    """What another program reading the file sees."""
    with sqlite3.connect(store.db_path) as db:
        return db.execute(sql, params).fetchall()


def test_the_question_is_saved_the_moment_it_is_asked(make_session, tmp_path):
    store = HistoryStore(tmp_path)
    chat = make_session(store)
    seen: list[list[tuple]] = []

    def look(turn, answer, event) -> None:
        if not seen:
            seen.append(
                rows(
                    store,
                    "SELECT c.title, t.question, a.state FROM turns t JOIN conversations c "
                    "ON c.id = t.conversation_id JOIN answers a ON a.turn_id = t.id",
                )
            )

    chat.answer_updated.connect(look)
    turn = chat.ask("How many circles?")
    assert seen == [[("How many circles?", "How many circles?", "streaming")]], "a first question creates its chat"
    assert rows(store, "SELECT state, partial FROM answers WHERE id = ?", turn.answer.id) == [("done", None)]


def test_the_partial_answer_is_saved_while_it_streams(make_session, tmp_path, monkeypatch):
    monkeypatch.setattr(session, "PARTIAL_INTERVAL_S", 0.0)  # every event, so the test sees each one
    store = HistoryStore(tmp_path)
    chat = make_session(store, beam=2, max_stage_tokens=12)
    saved: list[dict] = []

    def look(turn, answer, event) -> None:
        (partial,) = rows(store, "SELECT partial FROM answers WHERE id = ?", answer.id)[0]
        saved.append(json.loads(partial))

    chat.answer_updated.connect(look)
    turn = chat.ask("Describe it.")
    texts = [{(s, c): t for s, c, t in p["texts"]} for p in saved]
    assert any(len({c for (_s, c) in t}) == 2 for t in texts), "every candidate's text is saved"
    assert [p["stage"] for p in saved][-1] == "conclusion" and saved[-1]["finished"]["summary"]
    final = turn.answer.trace
    assert saved[-1]["finished"]["reasoning"] == final.stage("reasoning").text


def test_partial_answers_are_saved_about_once_a_second(make_session, tmp_path, monkeypatch):
    store = HistoryStore(tmp_path)
    chat = make_session(store)
    now = [0.0]
    monkeypatch.setattr(session, "clock", lambda: now[0])
    written: list[float] = []
    real = store.save_partial
    monkeypatch.setattr(store, "save_partial", lambda t, a: (written.append(now[0]), real(t, a)))
    events: list[tuple[float, str]] = []

    def tick(turn, answer, event) -> None:
        events.append((now[0], event.kind))
        now[0] += 0.55  # each event half a second after the one before

    chat.answer_updated.connect(tick)
    chat.ask("Describe it.")
    expected, last = [], 0.0
    for at, kind in events:
        if kind == "stage_end" or at - last >= 1.0:
            expected.append(at)
            last = at
    assert written == expected and len(expected) > [k for _t, k in events].count("stage_end")


def test_a_save_that_meets_a_lock_waits_and_lands_in_order(make_session, tmp_path):
    store = HistoryStore(tmp_path)
    chat = make_session(store)
    changes: list[tuple[int, str]] = []
    chat.saves_changed.connect(lambda n, why: changes.append((n, why)))
    with locked(store.db_path):
        first = chat.ask("First question?")
        second = chat.ask("Second question?")
        assert first.answer.trace is not None and second.answer.trace is not None
        assert chat.saves_pending >= 4 and "locked by another program" in changes[-1][1]
        assert not chat.retry_saves(), "still locked"
        assert rows(store, "SELECT count(*) FROM turns") == [(0,)]
    assert chat.retry_saves() and chat.saves_pending == 0 and changes[-1] == (0, "")
    saved = store.load_conversation(chat.conversation.id, lambda *a: None)
    assert [t.question for t in saved.turns] == ["First question?", "Second question?"]
    assert [t.answer.trace.conclusion for t in saved.turns] == [first.answer.conclusion, second.answer.conclusion]


def test_quitting_waits_for_a_lock_then_keeps_what_it_could_not_save(make_session, tmp_path):
    store = HistoryStore(tmp_path)
    chat = make_session(store, closes=True)
    with locked(store.db_path):
        turn = chat.ask("Will this be kept?")
        started = time.monotonic()
        rescue = chat.close(wait_s=1.0)
        assert 0.9 < time.monotonic() - started < 10
    assert rescue is not None and rescue.parent == tmp_path / "unsaved"
    [kept] = json.loads(rescue.read_text())
    assert kept["title"] == "Will this be kept?" and kept["turns"][0]["question"] == "Will this be kept?"
    assert kept["turns"][0]["answers"][0]["trace"]["conclusion"] == turn.answer.trace.conclusion


def test_quitting_saves_what_it_can_when_the_lock_goes_in_time(make_session, tmp_path):
    store = HistoryStore(tmp_path)
    chat = make_session(store, closes=True)
    locker = Locker(store.db_path, "write")
    chat.ask("Kept after all?")
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            locker.release()

    assert chat.close(wait_s=20.0, tick=tick) is None
    assert rows(store, "SELECT question FROM turns") == [("Kept after all?",)]


def test_damage_met_while_open_saves_the_open_conversation_again(make_session, tmp_path):
    write_history(tmp_path, conversations=12)  # earlier conversations, enough pages
    store = HistoryStore(tmp_path)
    chat = make_session(store)
    chat.ask("The open conversation's question?")
    notices = []
    chat.store_notice.connect(notices.append)
    # another program damages the file's pages and writes (its write touches only the first page), so
    # this program's cached pages are stale and its next query reads the damage
    with sqlite3.connect(store.db_path) as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the database file
    size = store.db_path.stat().st_size
    with store.db_path.open("r+b") as fh:
        fh.seek(2 * 4096)
        fh.write(os.urandom(size - 2 * 4096))
    with sqlite3.connect(store.db_path) as other:
        other.execute("PRAGMA user_version = 2")
    assert chat.conversations("x" * 100) == [], "a search longer than any title reads every turn"
    [notice] = notices
    assert notice.kind == "recovered" and notice.path.is_dir() and str(notice.path) in notice.message
    assert chat.retry_saves()
    [again] = chat.conversations()
    assert again.title == "The open conversation's question?", "saved again into the new history"
    saved = store.load_conversation(again.id, lambda *a: None)
    assert saved.turns[0].answer.trace.conclusion == chat.conversation.turns[0].answer.conclusion


def test_an_unfinished_answer_is_exported_with_what_it_had_written():
    from stagelens.session import Answer, Turn
    from stagelens.session.export import to_json, to_markdown

    answer = Answer(interrupted=True)
    answer.on_event("text", "summary", 0, "two shapes")
    answer.on_event("stage_end", "summary", 0, "")
    answer.on_event("text", "caption", 0, "a red")
    turn = Turn("How many?", [], [answer])
    markdown = to_markdown("Shapes", [turn])
    assert "> Unfinished" in markdown and "two shapes" in markdown and "a red" in markdown
    [exported] = json.loads(to_json("Shapes", [turn]))["turns"][0]["answers"]
    assert exported["unfinished"] == [["summary", "two shapes"], ["caption", "a red"]]
