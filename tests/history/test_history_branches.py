"""Branches (edit and resend) in the history that writes answers ahead: an edited question written
the moment it is sent goes on its own branch, and a conversation saved again after the history was
started anew keeps every branch and the one shown."""

from __future__ import annotations

from stagelens.history import HistoryStore
from stagelens.images import ImageLoader
from stagelens.session import Answer, Conversation, Turn


def reopen(store: HistoryStore, conversation_id: int) -> Conversation:
    loader = ImageLoader(inline=True)
    opened = store.load_conversation(conversation_id, lambda p, n, s: loader.from_history(p, n, s, 768))
    assert opened is not None
    return opened


def ask(store: HistoryStore, conversation: Conversation, turn: Turn, finished: bool = True) -> None:
    answer = Answer(live=True)
    turn.versions.append(answer)
    store.start_turn(conversation, turn, answer)
    answer.on_event("text", "summary", 0, f"about {turn.question}")
    store.save_partial(turn, answer)
    if finished:
        answer.live = False
        answer.error = f"answered {turn.question}"
        store.finish_answer(turn, answer)


def test_an_edit_written_ahead_is_its_own_branch(tmp_path):
    store = HistoryStore(tmp_path)
    conversation = Conversation(title="Shapes")
    first, second, third = Turn("first", []), Turn("second", []), Turn("third", [])
    for turn in (first, second, third):
        conversation.append(turn)
        ask(store, conversation, turn)
    edited = Turn("second, edited", [])
    conversation.branch(second, edited)
    ask(store, conversation, edited, finished=False)  # the program is killed while it answers
    store.close()

    again = HistoryStore(tmp_path)
    opened = reopen(again, conversation.id)
    assert [t.question for t in opened.turns] == ["first", "second, edited"], "the branch shown is the edit"
    assert opened.turns[1].answer.interrupted and opened.turns[1].answer.live_text("summary") == "about second, edited"
    assert [t.question for t in opened.siblings(opened.turns[1])] == ["second", "second, edited"]
    opened.choose(opened.turns[1], 0)
    assert [t.question for t in opened.turns] == ["first", "second", "third"]
    assert [t.answer.error for t in opened.turns] == ["answered first", "answered second", "answered third"]
    again.close()


def test_saving_a_conversation_again_keeps_every_branch(tmp_path):
    conversation = Conversation(title="Kept")
    a, b, c = Turn("a", [], [Answer(error="A")]), Turn("b", [], [Answer(error="B")]), Turn("c", [], [Answer(error="C")])
    for turn in (a, b, c):
        conversation.append(turn)
    b2 = Turn("b2", [], [Answer(error="B2")])
    conversation.branch(b, b2)
    a2 = Turn("a2", [], [Answer(error="A2")])
    conversation.branch(a, a2)
    conversation.choose(a2, 0)  # shown: a, b2 (a remembers its branch)
    assert [t.question for t in conversation.turns] == ["a", "b2"]

    store = HistoryStore(tmp_path)
    store.save_conversation(conversation)
    assert all(t.id is not None for t in conversation.every_turn())
    opened = reopen(store, conversation.id)
    assert [t.question for t in opened.turns] == ["a", "b2"]
    assert [t.question for t in opened.roots] == ["a", "a2"]
    assert [t.question for t in opened.siblings(opened.turns[1])] == ["b", "b2"]
    opened.choose(opened.turns[1], 0)
    assert [t.question for t in opened.turns] == ["a", "b", "c"] and opened.turns[2].answer.error == "C"
    store.close()
