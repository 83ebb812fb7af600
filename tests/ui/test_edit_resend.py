"""Edit and resend: editing a question makes a new branch from that point, answered after the same
earlier turns; the old branch stays, with ‹ n / N › at the question as regenerated answers have;
both are saved, the branch shown too, and a history from before branches opens as one branch."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from tests.fixtures.qt_window import TIMEOUT_MS, ask, shot  # noqa: E402
from tests.fixtures.traces import markdown_trace  # noqa: E402

from stagelens.history import SCHEMA_VERSION, HistoryStore  # noqa: E402
from stagelens.images import ImageLoader  # noqa: E402
from stagelens.session import Answer, Conversation, Turn  # noqa: E402


def questions(window) -> list[str]:
    return [t.question for t in window.conversation.turns]


def reopen(window):
    loader = ImageLoader(inline=True)
    return window.history.load_conversation(window.conversation.id, lambda p, n, s: loader.from_history(p, n, s, 768))


def test_editing_a_question_makes_a_branch_and_keeps_the_old_one(make_scripted, qtbot):
    window, runner = make_scripted([markdown_trace()])
    ask(qtbot, window, "How many shapes?")
    ask(qtbot, window, "Which is red?")
    ask(qtbot, window, "And the blue one?")
    second = window._card_for(window.conversation.turns[1])
    assert not second.bubble.branches.isVisible(), "one branch: nothing to switch"
    # edit the second question in its bubble: Enter asks it again from there
    qtbot.mouseClick(second.bubble.edit_button, Qt.MouseButton.LeftButton)
    assert second.bubble.editing and second.bubble.editor.toPlainText() == "Which is red?"
    second.bubble.editor.selectAll()
    qtbot.keyClicks(second.bubble.editor, "Which one is round?")
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(second.bubble.editor, Qt.Key.Key_Return)
    assert questions(window) == ["How many shapes?", "Which one is round?"], "the later turns are the old branch's"
    job = runner.jobs[-1]
    assert [t.question for t in job.request.history] == ["How many shapes?"], "asked after the same earlier turns"
    edited = window.conversation.turns[1]
    card = window._card_for(edited)
    assert card.bubble.branches.isVisible() and card.bubble.branches.label.text() == "2 / 2"
    assert edited.answer.trace is not None and card.conclusion.text() == edited.answer.trace.conclusion
    shot(window, "19-edited-question")

    # back to the first branch: its question, its answer and what followed it
    qtbot.mouseClick(card.bubble.branches.prev_button, Qt.MouseButton.LeftButton)
    assert questions(window) == ["How many shapes?", "Which is red?", "And the blue one?"]
    first_branch = window._card_for(window.conversation.turns[1])
    assert first_branch.bubble.branches.label.text() == "1 / 2"
    assert (
        not first_branch.bubble.branches.prev_button.isEnabled()
        and first_branch.bubble.branches.next_button.isEnabled()
    )
    # a follow-up goes on the branch shown
    ask(qtbot, window, "Anything else?")
    assert questions(window) == ["How many shapes?", "Which is red?", "And the blue one?", "Anything else?"]

    # all of it is saved: reopened, the branch shown and the other one
    reopened = reopen(window)
    assert [t.question for t in reopened.turns] == questions(window)
    siblings = reopened.siblings(reopened.turns[1])
    assert [t.question for t in siblings] == ["Which is red?", "Which one is round?"]
    reopened.choose(reopened.turns[1], 1)
    assert [t.question for t in reopened.turns] == ["How many shapes?", "Which one is round?"]
    assert reopened.turns[1].answer.trace.conclusion == edited.answer.trace.conclusion

    # the branch shown is remembered
    qtbot.mouseClick(first_branch.bubble.branches.next_button, Qt.MouseButton.LeftButton)
    assert questions(window) == ["How many shapes?", "Which one is round?"]
    assert [t.question for t in reopen(window).turns] == ["How many shapes?", "Which one is round?"]


def test_editing_the_first_question_and_while_answering(make_scripted, qtbot):
    window, _runner = make_scripted([markdown_trace()])
    ask(qtbot, window, "First?")
    ask(qtbot, window, "Second?")
    first = window._card_for(window.conversation.turns[0])
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        first.bubble.start_editing()
        first.bubble.editor.setPlainText("First, again?")
        qtbot.mouseClick(first.bubble.send_button, Qt.MouseButton.LeftButton)
        card = window._card_for(window.conversation.turns[0])
        assert not card.bubble.edit_button.isEnabled(), "no edits while an answer is written"
        assert window.session.edit(window.conversation.turns[0], "Not now") is None
    assert questions(window) == ["First, again?"]
    assert [t.question for t in window.conversation.roots] == ["First?", "First, again?"]
    card = window._card_for(window.conversation.turns[0])
    card.bubble.start_editing()
    qtbot.keyClick(card.bubble.editor, Qt.Key.Key_Escape)
    assert not card.bubble.editing and questions(window) == ["First, again?"], "Esc cancels"


def test_the_branch_model():
    conversation = Conversation()
    a, b, c = Turn("a", []), Turn("b", []), Turn("c", [])
    for turn in (a, b, c):
        conversation.append(turn)
    assert conversation.turns == [a, b, c] and b.parent is a and a.children == [b]
    b2 = Turn("b2", [])
    conversation.branch(b, b2)
    assert conversation.turns == [a, b2] and conversation.siblings(b2) == [b, b2] and conversation.branch_index(b2) == 1
    conversation.choose(b2, 0)
    assert conversation.turns == [a, b, c]
    a2 = Turn("a2", [])
    conversation.branch(a, a2)
    assert conversation.turns == [a2] and conversation.roots == [a, a2]
    conversation.choose(a2, 0)
    assert conversation.turns == [a, b, c], "each point remembers its own branch"
    with pytest.raises(IndexError):
        conversation.choose(a, 5)
    assert [t.question for t in conversation.every_turn()] == ["a", "a2", "b", "b2", "c"], "parents first"
    linear = Conversation(turns=[Turn("x", []), Turn("y", [])])
    assert [t.question for t in linear.turns] == ["x", "y"] and linear.turns[1].parent is linear.turns[0]


def test_a_history_from_before_branches_opens_as_one_branch(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "images").mkdir()
    db = sqlite3.connect(folder / "history.sqlite3")
    db.executescript(
        """
        CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL,
            updated REAL NOT NULL);
        CREATE TABLE turns (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations(id)
            ON DELETE CASCADE, position INTEGER NOT NULL, question TEXT NOT NULL, images TEXT NOT NULL,
            selected INTEGER NOT NULL DEFAULT 0, UNIQUE (conversation_id, position));
        CREATE TABLE answers (id INTEGER PRIMARY KEY, turn_id INTEGER NOT NULL REFERENCES turns(id)
            ON DELETE CASCADE, version INTEGER NOT NULL, trace TEXT, error TEXT, created REAL NOT NULL,
            UNIQUE (turn_id, version));
        INSERT INTO conversations VALUES (1, 'Old chat', 1.0, 2.0), (2, 'Other', 1.0, 2.0);
        INSERT INTO turns VALUES (10, 1, 0, 'first', '[]', 0), (11, 1, 1, 'second', '[]', 0),
            (12, 1, 2, 'third', '[]', 0), (20, 2, 0, 'elsewhere', '[]', 0);
        INSERT INTO answers VALUES (1, 10, 0, NULL, 'e1', 1.0), (2, 11, 0, NULL, 'e2', 1.0),
            (3, 12, 0, NULL, 'e3', 1.0), (4, 20, 0, NULL, 'e4', 1.0);
        PRAGMA user_version=1;
        """
    )
    db.close()
    store = HistoryStore(folder)
    loader = ImageLoader(inline=True)
    opened = store.load_conversation(1, lambda p, n, s: loader.from_history(p, n, s, 768))
    assert [t.question for t in opened.turns] == ["first", "second", "third"]
    assert opened.turns[2].parent is opened.turns[1] and [t.question for t in opened.roots] == ["first"]
    assert [t.answer.error for t in opened.turns] == ["e1", "e2", "e3"]
    assert [t.question for t in store.turns(2, lambda p, n, s: loader.from_history(p, n, s, 768))] == ["elsewhere"]
    # a branch added to the migrated history
    edited = Turn("second, edited", [], parent=opened.turns[0])
    new_id = store.add_turn(1, edited, Answer(error="e5"))
    again = store.load_conversation(1, lambda p, n, s: loader.from_history(p, n, s, 768))
    assert [t.question for t in again.turns] == ["first", "second, edited"] and again.turns[1].id == new_id
    assert [t.question for t in again.siblings(again.turns[1])] == ["second", "second, edited"]
    store.close()
    version = sqlite3.connect(folder / "history.sqlite3").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    HistoryStore(folder).close()  # opening it again changes nothing
