"""`stagelens bench --turns N`: a conversation where every follow-up reads only its own turn (counts
from the engine's stats, never timings)."""

from __future__ import annotations

from stagelens.bench.formatting import format_turns, format_turns_markdown
from stagelens.bench.turns import cells, question, run_turns
from stagelens.engine import SearchSettings


def test_every_follow_up_reads_only_its_own_turn(engine, scene):
    settings = SearchSettings(beam=2, max_stage_tokens=4, seed=3)
    rows = run_turns(engine, scene, settings, turns=4, repeat=1)
    assert [r.turn for r in rows] == [1, 2, 3, 4]
    first, *follow_ups = rows
    assert first.image_encodes == 1 and first.held_tokens == 0 and first.read_own_turn_only
    assert first.own_tokens == cells(engine.prompt_units(question(1), [scene], settings)) - 1
    for before, row in zip(rows, follow_ups, strict=False):
        assert row.image_encodes == 0
        assert row.read_own_turn_only, f"turn {row.turn} read {row.prompt_tokens}, its own turn {row.own_tokens}"
        assert row.held_tokens > before.held_tokens + before.own_tokens, "the conversation grew by a turn and an answer"
        assert 0 < row.prompt_tokens < first.prompt_tokens
    assert follow_ups[0].vs_first_follow_up == 1.0 and all(r.vs_first_follow_up is not None for r in follow_ups)
    assert first.vs_first_follow_up is None
    table = format_turns(rows)
    assert table.count("yes") == 4 and "NO" not in table
    assert format_turns_markdown(rows).count("\n") == len(rows) + 1


def test_a_lost_conversation_is_reported(engine, scene):
    """A follow-up that reads its history again (here: the cache forgotten before it) is marked."""
    settings = SearchSettings(beam=2, max_stage_tokens=3, seed=3)
    original = engine.answer

    def forgetful(turn, history=(), **kw):
        if history:
            engine.reset_cache()
        return original(turn, history, **kw)

    engine.answer = forgetful
    try:
        rows = run_turns(engine, scene, settings, turns=2, repeat=1)
    finally:
        del engine.answer
    assert rows[1].prompt_tokens > rows[1].own_tokens and not rows[1].read_own_turn_only
    assert "NO" in format_turns(rows)
