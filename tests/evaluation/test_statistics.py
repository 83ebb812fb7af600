"""Bootstrap intervals, McNemar's exact test and paired comparisons, against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from stagelens.evaluation.statistics import (
    Interval,
    bootstrap_interval,
    mcnemar_exact,
    paired_comparison,
)


def test_a_constant_has_a_zero_width_interval() -> None:
    assert bootstrap_interval([1, 1, 1, 1], resamples=200) == Interval(1.0, 1.0, 1.0)
    assert bootstrap_interval([0.25] * 7, resamples=200) == Interval(0.25, 0.25, 0.25)


def test_bootstrap_interval_of_a_proportion_matches_the_normal_approximation() -> None:
    # 200 right of 400: mean 0.5, standard error sqrt(0.25 / 400) = 0.025, 95 %: +/- 1.96 * 0.025 = 0.049
    values = [True] * 200 + [False] * 200
    interval = bootstrap_interval(values, resamples=20_000, bootstrap_seed=1)
    assert interval.estimate == 0.5
    assert interval.low == pytest.approx(0.451, abs=0.006) and interval.high == pytest.approx(0.549, abs=0.006)


def test_bootstrap_is_deterministic_for_a_seed_and_wider_at_a_higher_level() -> None:
    values = [1, 0, 0, 1, 1, 1, 0, 1, 1, 0] * 5
    assert bootstrap_interval(values, bootstrap_seed=3) == bootstrap_interval(values, bootstrap_seed=3)
    narrow, wide = (
        bootstrap_interval(values, level=0.5, bootstrap_seed=3),
        bootstrap_interval(values, level=0.99, bootstrap_seed=3),
    )
    assert wide.low < narrow.low < narrow.estimate < narrow.high < wide.high
    with pytest.raises(ValueError, match="no values"):
        bootstrap_interval([])


@pytest.mark.parametrize(
    ("method_only", "baseline_only", "expected"),
    [
        (0, 0, 1.0),
        (5, 0, 2 / 32),  # all 5 discordant items one way: 2 * (1/2)^5
        (1, 9, 2 * (1 + 10) / 1024),  # 2 * P(X <= 1), X ~ Binomial(10, 1/2)
        (9, 1, 2 * (1 + 10) / 1024),  # symmetric
        (3, 3, 1.0),  # an even split is no evidence (2 * 42/64 capped at 1)
        (20, 5, 2 * sum(math.comb(25, i) for i in range(6)) / 2**25),
    ],
)
def test_mcnemar_exact(method_only: int, baseline_only: int, expected: float) -> None:
    assert mcnemar_exact(method_only, baseline_only) == pytest.approx(expected)


def test_paired_comparison_counts_discordant_items_and_bootstraps_the_difference() -> None:
    method = [True, True, False, False, True]
    baseline = [True, False, False, True, False]
    result = paired_comparison(method, baseline, resamples=2000)
    assert (result.n, result.method_only, result.baseline_only) == (5, 2, 1)
    assert result.difference.estimate == pytest.approx(0.2)  # (0 + 1 + 0 - 1 + 1) / 5
    assert result.difference.low < 0.2 < result.difference.high
    assert result.mcnemar_p == pytest.approx(1.0)  # 2 vs 1: 2 * P(X <= 1 | n=3) = 2 * 4/8


def test_a_consistent_gain_excludes_zero_and_pairing_matters() -> None:
    # the method fixes 30 of 300 items and breaks none: every resample has a positive difference
    baseline = [i % 2 == 0 for i in range(300)]
    method = [b or i % 10 == 1 for i, b in enumerate(baseline)]
    paired = paired_comparison(method, baseline, bootstrap_seed=5)
    assert paired.difference.estimate == pytest.approx(0.1)
    assert paired.difference.excludes_zero() and paired.difference.low > 0.06
    assert paired.mcnemar_p < 1e-8
    # unpaired, the two accuracies' intervals overlap: only the paired view shows the gain
    assert bootstrap_interval(method, bootstrap_seed=5).low < bootstrap_interval(baseline, bootstrap_seed=5).high
    with pytest.raises(ValueError, match="same items"):
        paired_comparison([True], [True, False])
