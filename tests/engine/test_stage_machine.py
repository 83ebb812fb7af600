"""The stage machine against models that misbehave the way real ones do, reproducibly: scripted GGUF
models (stagelens_dev.testmodels.scripted) whose every token is fixed by construction.

For each misbehaviour, what the user gets: every stage with a status and a note saying what the
model did, a well-formed answer in the conversation (no stage holds another stage's tag), and a
conclusion that is never silently empty: `conclusion_note` says why, and `stagelens ask` prints it.
"""

from __future__ import annotations

import re

import pytest
from tests.fixtures.engine import FOLLOW_UP, past

from stagelens.cli import main
from stagelens.engine import Engine, LoadSettings, SearchSettings, Trace, UserTurn
from stagelens.engine.stage_text import STAGE_TAGS
from stagelens.settings import STAGE_NAMES
from stagelens_dev.testmodels.scripted import make_scripted_model
from stagelens_dev.testmodels.scripts import BY_NAME, CAPTION_TEXT, CONCLUSION_TEXT, SUMMARY_TEXT

BUDGET = 24  # a loop of 3 tokens is seen after 18 (6 rounds; at least 16 tokens)
SETTINGS = SearchSettings(beam=2, max_stage_tokens=BUDGET, seed=3)  # sampled: the script's margins are ~30 nats
QUESTION = "How many red circles are there?"
NOTHING = "The model ended its answer without writing anything."

# script -> (status per stage, conclusion, conclusion_note, {stage: words its note must hold})
EXPECTED: dict[str, tuple[list[str], str, str, dict[str, str]]] = {
    "well_behaved": (["ok"] * 4, "3", "", {}),
    "answer_in_summary": (["jumped", "ok", "ok", "ok"], "3", "", {"summary": "went on to <CAPTION> inside Summary"}),
    "answer_in_summary_untagged": (
        ["ok", "ended", "ended", "ended"],
        "",
        "The model ended its answer without writing a conclusion. Its other stages hold text: Summary.",
        {"caption": "before writing anything in Caption"},
    ),
    "early_conclusion": (
        ["jumped", "jumped", "jumped", "ok"],
        "3",
        "",
        {"summary": "went on to <CONCLUSION>", "caption": "went on to <CONCLUSION> inside Caption"},
    ),
    "eos_first": (["ended"] * 4, "", NOTHING, {"summary": "before writing anything in Summary"}),
    "repeated_open": (["ok"] * 4, "3", "", {s: f"wrote the <{s.upper()}> tag again" for s in STAGE_NAMES}),
    "never_closes": (
        ["cut"] * 4,
        " ".join(f"end{i}" for i in range(1, BUDGET + 1)),
        "",
        {s: f"did not close {s.title()} within its {BUDGET}-token budget" for s in STAGE_NAMES},
    ),
    "markdown_headings": (
        ["jumped", "jumped", "jumped", "ended"],
        "3",
        "",
        {"summary": "went on to **Caption:** inside Summary", "conclusion": "Markdown heading instead of the"},
    ),
    "loops": (["looped", "ok", "ok", "ok"], "3", "", {"summary": "kept repeating itself in Summary"}),
}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    root = tmp_path_factory.mktemp("scripted")
    engines: dict[str, Engine] = {}

    def engine(name: str) -> Engine:
        if name not in engines:
            files = make_scripted_model(name, root)
            engines[name] = Engine(LoadSettings(str(files.text), str(files.mmproj), n_ctx=4096, n_threads=1))
        return engines[name]

    yield engine
    for eng in engines.values():
        eng.close()


def _stage_bodies(trace: Trace) -> dict[str, str]:
    """Each stage's text between its tags in the conversation (what the model reads back)."""
    bodies = {}
    for name in STAGE_NAMES:
        open_tag, close_tag = STAGE_TAGS[name]
        found = re.search(re.escape(open_tag) + "(.*?)" + re.escape(close_tag), trace.assistant_text, re.S)
        assert found, f"{name} is not between its tags in {trace.assistant_text!r}"
        bodies[name] = found.group(1)
    return bodies


def test_every_script_is_tested():
    assert set(EXPECTED) == set(BY_NAME)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_what_the_user_gets(scripted, scene, name):
    statuses, conclusion, note, notes = EXPECTED[name]
    trace = scripted(name).answer(UserTurn(QUESTION, (scene,)), settings=SETTINGS)
    assert [s.status for s in trace.stages] == statuses
    assert trace.conclusion == conclusion
    assert trace.conclusion_note == note
    for stage in trace.stages:
        if stage.status == "ok" and stage.name not in notes:
            assert stage.note == "", stage.name
        else:
            assert stage.note, f"{stage.name} is {stage.status} without a note"
        assert notes.get(stage.name, "") in stage.note
    # the conversation stays well formed: every stage between its own tags, no other stage's tag inside
    others = {name: [t for other in STAGE_NAMES if other != name for t in STAGE_TAGS[other]] for name in STAGE_NAMES}
    for stage, body in _stage_bodies(trace).items():
        assert not [t for t in others[stage] if t in body], f"{stage} holds another stage's tag: {body!r}"
    assert trace.assistant_text.index("<CONCLUSION>") > trace.assistant_text.index("</REASONING>")


def test_what_each_misbehaviour_keeps(scripted, scene):
    ask = UserTurn(QUESTION, (scene,))
    jumped = scripted("answer_in_summary").answer(ask, settings=SETTINGS)
    assert jumped.stages[0].text == SUMMARY_TEXT.strip() and jumped.stages[1].text == CAPTION_TEXT.strip()
    repeated = scripted("repeated_open").answer(ask, settings=SETTINGS)
    assert [s.text for s in repeated.stages][0] == SUMMARY_TEXT.strip()  # the tag written again is not content
    headings = scripted("markdown_headings").answer(ask, settings=SETTINGS)
    assert headings.stages[0].text == SUMMARY_TEXT.strip() and headings.conclusion == CONCLUSION_TEXT.strip()
    assert [c.opened_by_alias for s in headings.stages for c in s.candidates] == [True] * 8
    loop = scripted("loops").answer(ask, settings=SETTINGS)
    assert loop.stages[0].text == "I count the circles again and"  # one round of the loop, not the budget's worth
    winner = next(c for c in loop.stages[0].candidates if c.selected)
    assert len(winner.tokens) == 3 < winner.n_tokens
    stopped = next(c for c in jumped.stages[0].candidates if c.selected)
    assert stopped.closed_by == "stop" and stopped.stop == "<CAPTION>"


def test_a_follow_up_after_a_misbehaving_answer_reads_only_its_turn(scripted, scene):
    eng = scripted("early_conclusion")
    first_turn = UserTurn(QUESTION, (scene,))
    first = eng.answer(first_turn, settings=SETTINGS)
    follow = eng.answer(UserTurn(FOLLOW_UP), [past(first_turn, first)], settings=SETTINGS)
    assert follow.stats.image_encodes == 0
    assert follow.stats.prompt_tokens == len(eng.tokenize(eng.renderer.follow_up(UserTurn(FOLLOW_UP)).text)) - 1
    assert follow.conclusion == "3"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stagelens_ask_prints_the_conclusion_or_why_there_is_none(scripted, scene_path, capsys, name):
    eng = scripted(name)  # the files exist
    statuses, conclusion, note, _ = EXPECTED[name]
    argv = ["ask", str(scene_path), "-q", QUESTION, "--model", eng.settings.model, "--mmproj", str(eng.settings.mmproj)]
    argv += ["--max-stage-tokens", str(BUDGET), "--threads", "1", "--seed", "3"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out == conclusion + "\n"
    assert (f"stagelens: no conclusion: {note}" in err) == bool(note)
    assert main([*argv, "--verbose"]) == 0
    out, _ = capsys.readouterr()
    for stage in eng.answer(UserTurn(QUESTION), settings=SETTINGS).stages:
        if stage.note:
            assert f"({stage.note})" in out, stage.name
