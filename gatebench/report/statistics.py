"""Statistics of the report: seed intervals, solved-rate intervals, tests, effect sizes, Holm.

Every interval and test is scipy's; this module chooses the calls, keeps intervals inside the
metric's range, and handles the small-sample edges (n < 2, zero spread) that scipy answers
with NaN and a warning. With 2-5 seeds per cell, as in most recurrent-cell comparisons, it
says what the data cannot carry (a range instead of an interval, `n too small` instead of a
p-value that can never fall below 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ALPHA = 0.05
CONFIDENCE = 0.95
BOOTSTRAP_MIN_RUNS = 5  # below this, a bootstrap over seeds is not an interval: show the range
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0  # fixed: the same records give the same report
EXACT_MWU_MAX_PARTITIONS = 200_000  # enumerate every split up to this many, else asymptotic


@dataclass(frozen=True)
class Interval:
    """An interval over seeds and what it is: `bootstrap` (BCa 95%), `range` (min-max), `one run`
    (low = high = the value) or `none` (no value)."""

    low: float
    high: float
    kind: str


def finite(values: Sequence[float]) -> np.ndarray:
    """The finite values as a float array."""
    data = np.asarray(values, dtype=float)
    return data[np.isfinite(data)]


def metric_bounds(metric: str) -> tuple[float, float]:
    """The range a metric can take: accuracies (`*acc`) [0, 1]; losses, MSE, norm_loss
    (`*loss`, `*mse`) [0, inf); anything else unbounded. `metric` may carry a split prefix
    (`val/`, `test/`, `test_T40/`)."""
    if metric.endswith("acc"):
        return 0.0, 1.0
    if metric.endswith(("loss", "mse")):
        return 0.0, math.inf
    return -math.inf, math.inf


def seed_interval(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf),
                  confidence: float = CONFIDENCE) -> Interval:  # fmt: skip
    """A 95% interval of the mean over seeds that never leaves the metric's `bounds`.

    From `BOOTSTRAP_MIN_RUNS` runs on: `scipy.stats.bootstrap` (BCa, Efron 1987) with a fixed
    seed; its end points are resampled means, so they lie within [min, max] of the data and
    hence inside the bounds (clipped as a guard). Below that, the min-max range of the runs,
    labelled `range`: with 2-4 seeds a t interval leaves the metric's range and a bootstrap
    has too few distinct resamples to mean anything.
    """
    data = finite(values)
    if data.size == 0:
        return Interval(math.nan, math.nan, "none")
    if data.size == 1:
        return Interval(float(data[0]), float(data[0]), "one run")
    if data.size < BOOTSTRAP_MIN_RUNS:
        return Interval(float(data.min()), float(data.max()), "range")
    if np.ptp(data) == 0:
        return Interval(float(data[0]), float(data[0]), "bootstrap")
    low, high = bootstrap_mean_interval(data, confidence)
    if not (math.isfinite(low) and math.isfinite(high)):
        return Interval(math.nan, math.nan, "none")
    return Interval(float(np.clip(low, *bounds)), float(np.clip(high, *bounds)), "bootstrap")


def bootstrap_mean_interval(
    data: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """`scipy.stats.bootstrap` BCa interval of the mean, fixed seed (falls back to percentile
    where BCa is undefined, e.g. when the jackknife has no spread)."""
    import warnings

    from scipy import stats

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (data,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                method=method, rng=np.random.default_rng(BOOTSTRAP_SEED),
            )  # fmt: skip
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    return math.nan, math.nan


@lru_cache(maxsize=1024)
def wilson_interval(
    solved: int, attempted: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson (1927) score interval of a solved rate: `binomtest(k, n).proportion_ci('wilson')`.

    3/3 solved is compatible with a true rate as low as 0.44.
    """
    from scipy import stats

    if attempted <= 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(solved), int(attempted)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(ci.low), float(ci.high)


@lru_cache(maxsize=1024)
def solved_counts_p(solved: int, attempted: int, ref_solved: int, ref_attempted: int) -> float:
    """Two-sided p of Boschloo's exact test (Boschloo 1970; `scipy.stats.boschloo_exact`) on
    the 2x2 table of solved/unsolved runs, variant vs reference. Uniformly more powerful than
    Fisher's exact test: with 3 vs 3 runs it can reach p = 0.031, Fisher only 0.10."""
    from scipy import stats

    if attempted <= 0 or ref_attempted <= 0:
        return math.nan
    table = [[solved, ref_solved], [attempted - solved, ref_attempted - ref_solved]]
    return float(stats.boschloo_exact(table, alternative="two-sided").pvalue)


@lru_cache(maxsize=256)
def solved_counts_min_p(attempted: int, ref_attempted: int) -> float:
    """The smallest p Boschloo's test can give with these sample sizes: all solved vs none."""
    if attempted <= 0 or ref_attempted <= 0:
        return math.nan
    return solved_counts_p(attempted, attempted, 0, ref_attempted)


def welch_p(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test (Welch 1947; as Greff et al. 2017).

    NaN when either side has fewer than two values or both have zero spread.
    """
    from scipy import stats

    a, b = finite(values), finite(reference)
    if a.size < 2 or b.size < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mann_whitney_p(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p of the Mann-Whitney U test, exact over every split of the pooled runs
    (`scipy.stats.mannwhitneyu` with a `PermutationMethod` that enumerates them all, so ties,
    e.g. several runs at accuracy 1.0, are handled exactly; with one run on a side, the same
    enumeration in `_lone_run_p`); asymptotic for large samples. NaN if a side is empty."""
    from scipy import stats

    a, b = finite(values), finite(reference)
    if a.size == 0 or b.size == 0:
        return math.nan
    if min(a.size, b.size) < 2:  # scipy's permutation test needs two runs a side
        return _lone_run_p(a[0], b) if a.size == 1 else _lone_run_p(b[0], a)
    if math.comb(a.size + b.size, a.size) <= EXACT_MWU_MAX_PARTITIONS:
        method = stats.PermutationMethod(
            n_resamples=EXACT_MWU_MAX_PARTITIONS, rng=np.random.default_rng(BOOTSTRAP_SEED)
        )
        return float(stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue)


def _lone_run_p(lone: float, others: np.ndarray) -> float:
    """Exact two-sided Mann-Whitney p of one run against `others`: under H0 the lone run is
    each of the N pooled values with probability 1/N, and its U (the others below it, ties
    counted half) rises with that value and is equal for equal values, so the tails of U are
    the pooled values at or above, and at or below, the observed one. p = twice the smaller
    tail, at most 1, as in scipy's permutation p-values (scipy's `method="exact"` assumes no
    ties)."""
    pooled = np.append(others, lone)
    upper, lower = np.mean(pooled >= lone), np.mean(pooled <= lone)
    return float(min(1.0, 2 * min(upper, lower)))


def mann_whitney_min_p(n: int, m: int) -> float:
    """The smallest two-sided p Mann-Whitney U can give with n vs m runs: 2 / C(n + m, n)
    (the two complete separations out of every equally likely split); 0.10 for 3 vs 3."""
    if n <= 0 or m <= 0:
        return math.nan
    return 2.0 / math.comb(n + m, n)  # C(n + m, n) >= 2 for n, m >= 1, so this is <= 1


def logrank_min_p(n: int, m: int) -> float:
    """The log-rank p of the most extreme outcome with n vs m runs: every run of one side solved
    at the first check (time 1), every run of the other unsolved at the budget (censored at 2;
    only the order of the times matters). Equals chi2(1).sf(n + m - 1)."""
    from scipy import stats

    if n <= 0 or m <= 0:
        return math.nan
    fast = stats.CensoredData(uncensored=np.ones(n))
    never = stats.CensoredData(right=np.full(m, 2.0))
    return float(stats.logrank(fast, never).pvalue)


def seeds_needed(min_p: Callable[[int, int], float], alpha: float, most: int = 50) -> int | None:
    """The smallest n (per side, equal sides) with `min_p(n, n) < alpha`; None above `most`."""
    for n in range(2, most + 1):
        if min_p(n, n) < alpha:
            return n
    return None


def probability_of_superiority(values: Sequence[float], reference: Sequence[float],
                               mode: str = "min") -> float:  # fmt: skip
    """P(a run of the variant beats a run of the reference) + half the ties: the common-language
    effect size (McGraw & Wong 1992), = U / (n m) of Mann-Whitney; `mode` says what beats means
    (`min`: lower is better). Cliff's delta is 2 P - 1."""
    a, b = finite(values), finite(reference)
    if a.size == 0 or b.size == 0:
        return math.nan
    diff = a[:, None] - b[None, :]
    if mode == "min":
        diff = -diff
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def difference_interval(values: Sequence[float], reference: Sequence[float],
                        confidence: float = CONFIDENCE) -> tuple[float, Interval]:  # fmt: skip
    """Mean difference (variant - reference) and its interval: `scipy.stats.bootstrap` over both
    samples (BCa, fixed seed) when each side has `BOOTSTRAP_MIN_RUNS` runs, else the `range` of
    every pairwise difference (min(a) - max(b), max(a) - min(b))."""
    import warnings

    from scipy import stats

    a, b = finite(values), finite(reference)
    if a.size == 0 or b.size == 0:
        return math.nan, Interval(math.nan, math.nan, "none")
    delta = float(a.mean() - b.mean())
    if min(a.size, b.size) < BOOTSTRAP_MIN_RUNS:
        return delta, Interval(float(a.min() - b.max()), float(a.max() - b.min()), "range")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return delta, Interval(delta, delta, "bootstrap")

    def mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (a, b), mean_difference, confidence_level=confidence,
                n_resamples=BOOTSTRAP_RESAMPLES, method=method,
                rng=np.random.default_rng(BOOTSTRAP_SEED),
            )  # fmt: skip
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return delta, Interval(float(low), float(high), "bootstrap")
    return delta, Interval(math.nan, math.nan, "none")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values; NaNs pass through and are not counted in m.

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value is
    p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)); rejecting p~ <= alpha is Holm's procedure.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, math.nan)
    finite_at = np.flatnonzero(np.isfinite(p))
    m = finite_at.size
    if m == 0:
        return adjusted
    order = finite_at[np.argsort(p[finite_at])]  # tied p get equal adjusted values in any order
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def interquartile_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of the middle 50% (`scipy.stats.trim_mean(x, 0.25)`), as rliable (Agarwal et al.
    2021) recommends over the mean and the median for few runs."""
    from scipy import stats

    return stats.trim_mean(values, 0.25, axis=axis)


def stratified_iqm_interval(strata: Sequence[Sequence[float]], confidence: float = CONFIDENCE,
                            n_resamples: int = 2000) -> tuple[float, float, float]:  # fmt: skip
    """IQM over all runs and its stratified bootstrap interval (Agarwal et al. 2021): each
    stratum (one task and length) is resampled on its own by `scipy.stats.bootstrap`, whose
    independent resampling of each sample is exactly that; percentile interval, fixed seed."""
    import warnings

    from scipy import stats

    samples = [finite(s) for s in strata]
    samples = [s for s in samples if s.size]
    if not samples:
        return math.nan, math.nan, math.nan
    pooled = np.concatenate(samples)
    centre = float(interquartile_mean(pooled))
    if pooled.size < 2 or np.ptp(pooled) == 0:
        return centre, centre, centre

    def iqm(*parts: np.ndarray, axis: int = -1) -> np.ndarray:
        return interquartile_mean(np.concatenate(parts, axis=axis), axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            tuple(samples), iqm, confidence_level=confidence, n_resamples=n_resamples,
            method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED),
        )  # fmt: skip
    low, high = result.confidence_interval
    return centre, float(low), float(high)
