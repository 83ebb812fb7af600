"""Statistics for comparing methods on the same items: intervals and paired tests.

- ``bootstrap_interval``: percentile bootstrap of a mean (items resampled with replacement).
- ``paired_comparison``: method B against a baseline A on the same items. The per-item
  difference (1, 0 or -1 for right/wrong outcomes) is bootstrapped with the items resampled in
  pairs, and McNemar's exact test counts the discordant items (B right where A is wrong, and the
  reverse): under "no difference" each discordant item is a fair coin, so the two-sided p-value
  is a binomial tail.

Everything is deterministic for a given ``bootstrap_seed`` (numpy's PCG64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict[str, float]:
        return {"estimate": round(self.estimate, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


@dataclass(frozen=True)
class PairedComparison:
    n: int
    difference: Interval  # mean of (method - baseline) per item
    method_only: int  # items the method gets right and the baseline wrong
    baseline_only: int  # the reverse
    mcnemar_p: float

    def to_json(self) -> dict[str, object]:
        return {
            "items": self.n,
            "difference": self.difference.to_json(),
            "method_only": self.method_only,
            "baseline_only": self.baseline_only,
            "mcnemar_p": round(self.mcnemar_p, 6),
        }


def _resampled_means(values: np.ndarray, resamples: int, bootstrap_seed: int) -> np.ndarray:
    rng = np.random.default_rng(bootstrap_seed)
    n = len(values)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(1, n))  # bounded memory: at most ~2M indices at a time
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[picks].mean(axis=1)
    return means


def bootstrap_interval(
    values: Sequence[float] | Sequence[bool] | np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    bootstrap_seed: int = 0,
) -> Interval:
    """The mean of ``values`` and its percentile bootstrap interval at ``level``."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values to bootstrap")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    means = _resampled_means(data, resamples, bootstrap_seed)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(data.mean()), float(low), float(high))


def mcnemar_exact(method_only: int, baseline_only: int) -> float:
    """Two-sided exact McNemar p-value: P(a split at least this uneven | each discordant item a fair coin)."""
    n = method_only + baseline_only
    if n == 0:
        return 1.0
    k = min(method_only, baseline_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(
    method: Sequence[bool],
    baseline: Sequence[bool],
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    bootstrap_seed: int = 0,
) -> PairedComparison:
    """Method against baseline on the same items, in the same order."""
    if len(method) != len(baseline):
        raise ValueError(f"paired results need the same items: {len(method)} vs {len(baseline)}")
    a = np.asarray(method, dtype=bool)
    b = np.asarray(baseline, dtype=bool)
    method_only = int((a & ~b).sum())
    baseline_only = int((~a & b).sum())
    difference = bootstrap_interval(a.astype(np.float64) - b.astype(np.float64), resamples, level, bootstrap_seed)
    return PairedComparison(len(a), difference, method_only, baseline_only, mcnemar_exact(method_only, baseline_only))
