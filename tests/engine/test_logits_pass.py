"""The search's per-token pass over the logits (native sl_logits.c): the top k selected once, and the
float log-sum-exp behind every candidate's log-probability, against numpy in double precision."""

from __future__ import annotations

import numpy as np
import pytest

from stagelens.engine import native


def _pass(logits: np.ndarray, k: int) -> tuple[list[tuple[int, float]], float]:
    return native._native.logits_pass(logits.astype(np.float32).tobytes(), k)


@pytest.mark.parametrize("n", [1, 7, 513, 151_936])
def test_log_sum_exp_matches_double_precision(n):
    rng = np.random.default_rng(n)
    logits = (rng.standard_normal(n) * 6).astype(np.float32)
    _, lse = _pass(logits, 1)
    x = logits.astype(np.float64)
    expected = np.log(np.exp(x - x.max()).sum())
    assert lse == pytest.approx(expected, abs=2e-6)


def test_very_negative_and_infinite_logits_add_nothing():
    logits = np.array([0.0, -1.0, -90.0, -1e30, -np.inf, -200.0, 3.0], dtype=np.float32)
    _, lse = _pass(logits, 2)
    x = np.array([0.0, -1.0, 3.0]) - 3.0
    assert lse == pytest.approx(np.log(np.exp(x).sum()), abs=1e-6)


def test_top_k_is_the_k_largest_in_order_with_ties_to_the_lower_id():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal(50_000).astype(np.float32)
    top, _ = _pass(logits, 40)
    ids = [i for i, _ in top]
    expected = sorted(range(len(logits)), key=lambda i: (-logits[i], i))[:40]
    assert ids == expected and [v for _, v in top] == pytest.approx([float(logits[i]) for i in expected])
    tied = np.array([1.0, 5.0, 2.0, 5.0, 5.0, 0.0, 2.0], dtype=np.float32)
    assert [i for i, _ in _pass(tied, 4)[0]] == [1, 3, 4, 2]
    assert [i for i, _ in _pass(tied, 1)[0]] == [1], "greedy: the first largest, as llama.cpp's"
    assert len(_pass(tied, 100)[0]) == len(tied)
    with pytest.raises(ValueError):
        _pass(tied, 0)
