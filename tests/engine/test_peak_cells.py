"""`Stats.peak_cells`: the most KV cells an answer held at once (the bench's KV cells vs N). A stage's
candidates hold the prompt and their own cells together; the judge's prompts come on top of them."""

from __future__ import annotations

import pytest
from tests.fixtures.engine import QUESTION, search

from stagelens.engine import UserTurn

BUDGET = 12


@pytest.mark.parametrize("beam", [1, 4])
def test_peak_cells_hold_every_candidate_of_a_stage_and_no_more_than_the_search_could(engine, beam):
    trace = engine.answer(UserTurn(QUESTION), settings=search(beam=beam, max_stage_tokens=BUDGET))
    stats = trace.stats
    held_after = engine._native._kv_state()["kv_cells"]
    # while the first stage's last step ran: the prompt, and every candidate's tokens (each in its own cells)
    first = sum(c.n_tokens for c in trace.stages[0].candidates)
    assert stats.prompt_tokens + first <= stats.peak_cells
    # never more than the answer left plus every candidate's cells of one stage
    assert stats.peak_cells <= held_after + beam * (BUDGET + 1)


def test_the_judges_prompts_count_on_top_of_the_candidates(engine):
    trace = engine.answer(UserTurn(QUESTION), settings=search(beam=4, scorer="judge", max_stage_tokens=BUDGET))
    stage = trace.stages[0]
    first_round = [p for p in stage.bracket if p.round == 0]
    assert len(first_round) >= 1
    candidates = trace.stats.prompt_tokens + sum(c.n_tokens for c in stage.candidates)
    judge = engine.judge_spec
    # the instructions once, and each first-round comparison's own cells (without the candidates' texts)
    instructions = len(engine.stage_specs[0].judge_head)
    comparisons = len(first_round) * (len(judge.mid) + len(judge.tail))
    assert trace.stats.peak_cells >= candidates + instructions + comparisons
