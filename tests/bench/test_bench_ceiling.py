"""The ceiling beside every bench row: raw decode rates on the engine's own context, and the bound
and efficiency each row gets from its own counts (arithmetic and structure, never timings)."""

from __future__ import annotations

import statistics

import pytest

from stagelens.bench import Ceiling, bound_s, format_ceiling, measure_ceiling
from stagelens.bench.ceiling import deep_prefix_for, first_text_bound_s, median_ceiling, widths_used
from stagelens.bench.runner import BenchRow, add_bounds, add_ratios, median_row
from stagelens.engine import ContextOverflowError, SearchSettings, UserTurn

CEILING = Ceiling(prefix=300, steps=16, prefill_tok_s=1000.0, step_s={1: 0.02, 2: 0.025, 4: 0.04})


def test_bound_is_prefill_plus_steps_at_their_width_plus_judge_tokens_at_the_prefill_rate():
    # 10 steps at width 1, 3 at width 2, 40 at width 4; 500 judge tokens
    assert bound_s(CEILING, 0.5, [0, 10, 3, 0, 40], 500) == pytest.approx(0.5 + 0.2 + 0.075 + 1.6 + 0.5)
    assert bound_s(CEILING, 0.25, [0, 7], 0) == pytest.approx(0.25 + 0.14)
    with pytest.raises(KeyError):
        bound_s(CEILING, 0.0, [0, 0, 0, 1, 0], 0)  # width 3 was not measured: no silent guess


def test_rows_get_their_bound_efficiency_and_first_text_bound():
    row = BenchRow("beam", 4, "logprob", 2.5, 1, 300, 160, 0, 64.0, 80.0, prefill_s=0.5, first_prefill_s=0.4,
                   steps_by_width=[0, 2, 1, 0, 40])  # fmt: skip
    add_bounds(row, CEILING)
    assert row.bound_s == pytest.approx(0.5 + 0.04 + 0.025 + 1.6)
    assert row.efficiency == pytest.approx(row.bound_s / 2.5, abs=1e-3)
    assert row.first_text_bound_s == pytest.approx(0.4 + 0.04), "the first decode of a beam-4 stage is 4 wide"
    ref = BenchRow("reference", 4, "logprob", 9.0, 4, 1200, 160, 0, 17.0, 80.0, first_prefill_s=0.3,
                   steps_by_width=[0, 164])  # fmt: skip
    add_bounds(ref, CEILING)
    assert ref.first_text_bound_s == pytest.approx(0.3 + 0.02), "the reference decodes one candidate at a time"


def test_widths_used_and_the_median_of_repeated_measurements():
    assert widths_used([[0, 5], [0, 1, 0, 0, 9], []]) == [1, 4]
    assert widths_used([]) == [1]

    class Scripted:
        def __init__(self) -> None:
            self.calls: list[tuple[int, int, list[int]]] = []
            # per step: one burst in each run (a neighbour taking the cores) must not move the step time
            self.results = [
                (0.3, [[0.01, 0.01, 0.4], [0.05, 0.9, 0.05]]),
                (0.1, [[0.03, 0.03, 0.03], [0.04, 0.04, 0.04]]),
                (0.2, [[0.7, 0.02, 0.02], [0.06, 0.06, 0.06]]),
            ]

        def decode_ceiling(self, prefix, steps, widths):
            self.calls.append((prefix, steps, list(widths)))
            return self.results[len(self.calls) - 1]

    raw = Scripted()
    ceiling = measure_ceiling(raw, 200, [1, 4], repeat=3, steps=3)
    assert raw.calls == [(200, 3, [1, 4])] * 3
    assert ceiling.step_s == {1: 0.02, 4: 0.05} and ceiling.prefill_tok_s == pytest.approx(200 / 0.2)
    assert ceiling.tokens_per_s(4) == pytest.approx(80.0)
    assert Ceiling.from_json(ceiling.to_json()) == ceiling
    line = format_ceiling(ceiling)
    assert "1 seq 50.0 tok/s (1.00×)" in line and "4 seq 80.0 tok/s (1.60×)" in line


def test_first_text_bound():
    assert first_text_bound_s(CEILING, 0.4, 2) == pytest.approx(0.425)


def test_raw_decode_on_the_engines_context(engine, scene):
    prefill_s, step_s = engine.decode_ceiling(64, 3, [1, 2, 4])
    assert prefill_s > 0 and len(step_s) == 3 and all(len(steps) == 3 and min(steps) > 0 for steps in step_s)
    n_seq_max = engine.info["n_seq_max"]
    with pytest.raises(ValueError, match=r"sequences per batch$"):
        engine.decode_ceiling(8, 1, [n_seq_max + 1])
    with pytest.raises(ContextOverflowError, match="context holds"):
        engine.decode_ceiling(4000, 200, [1])
    # the conversation was forgotten: the next answer reads its whole prompt again, and works
    settings = SearchSettings(beam=2, max_stage_tokens=3, seed=5)
    trace = engine.answer(UserTurn("What is there?", (scene,)), settings=settings)
    assert trace.stats.image_encodes == 1 and trace.stats.prompt_tokens > 0


def test_search_counts_its_decode_steps_by_width(engine, scene):
    settings = SearchSettings(beam=3, max_stage_tokens=4, seed=9)
    trace = engine.answer(UserTurn("Count the cups.", (scene,)), settings=settings)
    s = trace.stats
    steps = s.steps_by_width
    assert len(steps) == 4 and steps[3] >= len(trace.stages), "every stage starts with one 3-wide decode"
    leads = sum(len(stage.candidates) for stage in trace.stages)
    assert sum(w * n for w, n in enumerate(steps)) == s.decode_tokens + leads
    assert 0 < s.first_prefill_s <= s.prefill_s and 0 < s.encode_s <= s.prefill_s


def _row(mode: str, beam: int, scorer: str, wall: float) -> BenchRow:
    return BenchRow(mode, beam, scorer, wall, 1, 300, 160, 0, 10.0, 80.0, prefill_s=0.5, steps_by_width=[0, 10])


def test_ratios_are_taken_inside_each_repeat_and_the_row_reports_their_medians():
    walls = [  # greedy, beam 4 logprob, reference 4 logprob, beam 4 judge: load drifts between repeats
        (4.0, 8.0, 32.0, 12.0),
        (8.0, 16.0, 60.0, 20.0),
        (5.0, 9.0, 40.0, 16.0),
    ]
    specs = [("greedy", 1, "logprob"), ("beam", 4, "logprob"), ("reference", 4, "logprob"), ("beam", 4, "judge")]
    runs = []
    for repeat in walls:
        rows = [_row(*spec, wall) for spec, wall in zip(specs, repeat, strict=True)]
        for row in rows:
            add_bounds(row, CEILING)
        add_ratios(rows)
        runs.append(rows)
    assert [r[3].vs_logprob for r in runs] == [1.5, 1.25, 1.78]
    assert runs[0][1].batched_speedup == 4.0 and runs[0][3].batched_speedup is None
    beam = median_row([run[1] for run in runs])
    assert beam.wall_s == 9.0 and beam.vs_greedy == 2.0  # ratios 2.0, 2.0, 1.8
    assert beam.batched_speedup == pytest.approx(4.0)  # 4.0, 3.75, 4.44
    judge = median_row([run[3] for run in runs])
    assert judge.vs_logprob == 1.5 and judge.wall_s == 16.0
    assert [r["wall_s"] for r in judge.repeats] == [12.0, 20.0, 16.0]
    assert judge.efficiency == pytest.approx(statistics.median(r["efficiency"] for r in judge.repeats), abs=1e-3)


def test_the_ceiling_of_several_repeats_is_their_median():
    slower = Ceiling(prefix=300, steps=16, prefill_tok_s=500.0, step_s={1: 0.04, 2: 0.05, 4: 0.08})
    faster = Ceiling(prefix=300, steps=16, prefill_tok_s=1200.0, step_s={1: 0.01, 2: 0.02, 4: 0.03})
    median = median_ceiling([slower, CEILING, faster])
    assert median == CEILING


DEEP = Ceiling(300, 16, 1000.0, {1: 0.02, 4: 0.04}, deep_prefix=500, deep_step_s={1: 0.03, 4: 0.06})


def test_a_step_is_timed_on_the_line_through_the_shallow_and_the_deep_timing():
    # width 4 timed at 300 + 4 * 8.5 = 334 cells on average, and at 534: 0.02 s more per 200 cells
    assert DEEP.mean_cells(300, 4) == 334 and DEEP.mean_cells(500, 4) == 534
    assert DEEP.step_at(4, 334) == pytest.approx(0.04) and DEEP.step_at(4, 434) == pytest.approx(0.05)
    assert DEEP.step_at(4, 734) == pytest.approx(0.08), "deeper than the deep timing: on the same line"
    assert DEEP.step_at(4, 200) == pytest.approx(0.04), "never below the shallow timing"
    assert CEILING.step_at(4, 900) == 0.04, "no deep timing: the shallow one"
    # 10 steps at width 1 attending to 408.5 cells on average (0.025 s each), 20 at width 4 at 434
    assert bound_s(DEEP, 0.5, [0, 10, 0, 0, 20], 0, [0, 408.5, 0, 0, 434]) == pytest.approx(0.5 + 0.25 + 1.0)
    assert bound_s(DEEP, 0.5, [0, 10, 0, 0, 20], 0) == pytest.approx(0.5 + 0.2 + 0.8), "no cells: shallow"
    assert Ceiling.from_json(DEEP.to_json()) == DEEP and Ceiling.from_json(CEILING.to_json()) == CEILING


def test_the_deep_prefix_is_as_deep_as_the_rows_went_and_fits_the_context():
    cells = [[0, 350.0], [0, 0, 0, 0, 700.0]]
    assert deep_prefix_for(300, cells, [1, 4], 4096) == 700
    assert deep_prefix_for(300, [[0, 320.0]], [1], 4096) == 364, "at least DEEP_MIN_EXTRA past the prompt"
    assert deep_prefix_for(300, cells, [1, 4], 720) == 720 - 4 * 16, "the widest timing must fit"
    assert deep_prefix_for(300, cells, [1, 4], 400) == 0, "no room for a deep timing"


def test_the_median_ceiling_carries_the_deep_timings():
    other = Ceiling(300, 16, 900.0, {1: 0.03, 4: 0.05}, deep_prefix=500, deep_step_s={1: 0.05, 4: 0.09})
    third = Ceiling(300, 16, 1100.0, {1: 0.01, 4: 0.03}, deep_prefix=500, deep_step_s={1: 0.02, 4: 0.05})
    assert median_ceiling([other, DEEP, third]) == DEEP
