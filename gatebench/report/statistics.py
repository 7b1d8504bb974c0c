"""Statistics of the report: mean with a t confidence interval, Welch's t, Mann-Whitney U, Holm.

Every test is scipy's; this module only chooses the calls and handles the small-sample edges
(n < 2, zero spread) that scipy answers with NaN and a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided t-distribution confidence interval of the mean.

    Same numbers as `scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=sem)`; with
    n = 1 the interval is NaN, with zero spread it collapses to the mean.
    """
    from scipy import stats

    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size == 1:
        return mean, math.nan, math.nan
    sem = float(stats.sem(data))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, data.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def welch_p(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test (Welch 1947; as Greff et al. 2017).

    NaN when either side has fewer than two values or both have zero spread.
    """
    from scipy import stats

    a, b = _finite(values), _finite(reference)
    if a.size < 2 or b.size < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mann_whitney_p(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (scipy's default); NaN if a side is empty."""
    from scipy import stats

    a, b = _finite(values), _finite(reference)
    if a.size == 0 or b.size == 0:
        return math.nan
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values; NaNs pass through and are not counted in m.

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value is
    p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)); rejecting p~ <= alpha is Holm's procedure.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def _finite(values: Sequence[float]) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    return data[np.isfinite(data)]
