"""`stagelens ask --chat`: the command line's ask goes through the session, starts or continues a
saved conversation and saves the new turn (in a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stagelens.history import HistoryStore
from stagelens.images import ImageLoader

APP_DIR = Path(__file__).resolve().parents[2] / "app"
SMALL = ["--beam", "1", "--max-stage-tokens", "8", "--seed", "3", "--json"]


@pytest.fixture()
def run(tiny_model, tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "STAGELENS_HOME": str(home), "PYTHONPATH": str(APP_DIR)}
    model = ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]

    def run_ask(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "stagelens", "ask", *args, *model, *SMALL],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )

    run_ask.home = home  # type: ignore[attr-defined]
    return run_ask


def saved_in(result: subprocess.CompletedProcess) -> int:
    match = re.search(r"saved in conversation (\d+)", result.stderr)
    assert match, result.stderr
    return int(match.group(1))


def test_new_then_continue_a_saved_conversation(run, scene_path):
    first = run(str(scene_path), "-q", "How many circles?", "--chat", "new")
    assert first.returncode == 0, first.stderr
    conversation = saved_in(first)
    first_trace = json.loads(first.stdout)

    follow = run("-q", "And what colour are they?", "--chat", str(conversation))
    assert follow.returncode == 0, follow.stderr
    assert saved_in(follow) == conversation
    trace = json.loads(follow.stdout)
    assert trace["images"] == [], "a follow-up needs no new image"
    # the model was given the first turn (its image and answer) before the new question
    alone = run(str(scene_path), "-q", "And what colour are they?")
    assert alone.returncode == 0 and "saved in" not in alone.stderr
    assert trace["stats"]["prompt_tokens"] > json.loads(alone.stdout)["stats"]["prompt_tokens"]

    store = HistoryStore(run.home / "data")
    loader = ImageLoader(inline=True)
    saved = store.load_conversation(conversation, lambda p, n, s: loader.from_history(p, n, s, 768))
    assert [t.question for t in saved.turns] == ["How many circles?", "And what colour are they?"]
    assert [t.answer.trace.conclusion for t in saved.turns] == [first_trace["conclusion"], trace["conclusion"]]
    assert saved.turns[0].images[0].ok and saved.turns[1].images == []
    assert len(store.list_conversations()) == 1, "plain ask saves nothing"


def test_bad_chat_arguments_are_one_line_errors(run, scene_path):
    for args, needle in (
        (["-q", "What?", "--chat", "41"], "there is no saved conversation 41"),
        ([str(scene_path), "-q", "What?", "--chat", "latest"], "--chat takes a conversation id"),
        (["-q", "What?"], "give at least one image"),
        (["-q", "What?", "--chat", "new"], "give at least one image"),
    ):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stagelens: error:") and needle in lines[0], result.stderr
