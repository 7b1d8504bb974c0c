"""Report statistics against values derived independently of the code under test.

- Exact Mann-Whitney p by brute force: every split of the pooled runs into the two sample sizes
  is equally likely under H0; p = twice the smaller tail of U over those splits (ties get half
  counts in U). The asymptotic p is the normal approximation with the tie and
  continuity corrections (Lehmann 1975, eq. 1.28).
- The log-rank p of "one side solved at the first check, the other never": at the only event
  time O - E = nm/N and V = n^2 m^2 / (N^2 (N - 1)), so the chi-square statistic is N - 1.
- The probability of superiority by counting pairs by hand.
- Interval properties that a wrong formula breaks: containment of the estimate, the metric's
  bounds, narrowing with the confidence level, determinism (fixed seed).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gatebench.report import statistics as st
from gatebench.report.statistics import (
    difference_interval,
    holm,
    logrank_min_p,
    mann_whitney_min_p,
    mann_whitney_p,
    metric_bounds,
    probability_of_superiority,
    seed_interval,
    seeds_needed,
    stratified_iqm_interval,
)


def u_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """U of `a`: pairs with a > b, plus half the ties."""
    diff = a[:, None] - b[None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum())


def brute_force_mwu_p(a: list[float], b: list[float]) -> float:
    """Two-sided exact permutation p over every split of the pooled values: twice the smaller
    tail, at most 1 (with ties the null distribution of U is not symmetric, so this is not the
    share of |U - nm/2| >= observed)."""
    pooled = np.asarray(a + b, dtype=float)
    n, m = len(a), len(b)
    observed = u_statistic(np.asarray(a, float), np.asarray(b, float))
    null = []
    for chosen in itertools.combinations(range(n + m), n):
        mask = np.zeros(n + m, dtype=bool)
        mask[list(chosen)] = True
        null.append(u_statistic(pooled[mask], pooled[~mask]))
    null_u = np.asarray(null)
    upper = np.mean(null_u >= observed - 1e-9)
    lower = np.mean(null_u <= observed + 1e-9)
    return float(min(1.0, 2 * min(upper, lower)))


def normal_mwu_p(a: list[float], b: list[float]) -> float:
    """Normal approximation with tie correction and continuity correction 0.5."""
    n, m = len(a), len(b)
    big_n = n + m
    _, counts = np.unique(np.asarray(a + b), return_counts=True)
    ties = float(((counts**3) - counts).sum())
    sigma = math.sqrt(n * m / 12 * ((big_n + 1) - ties / (big_n * (big_n - 1))))
    u = u_statistic(np.asarray(a, float), np.asarray(b, float))
    z = (abs(u - n * m / 2) - 0.5) / sigma
    return float(min(1.0, 2 * stats.norm.sf(z)))


@pytest.mark.parametrize("metric,bounds", [
    ("val/acc", (0.0, 1.0)), ("test/recall_acc", (0.0, 1.0)), ("test_T40/seq_acc", (0.0, 1.0)),
    ("tol_acc", (0.0, 1.0)), ("val/mse", (0.0, math.inf)), ("test/norm_loss", (0.0, math.inf)),
    ("norm_loss", (0.0, math.inf)), ("train/loss", (0.0, math.inf)),
    ("val/recall_mse", (0.0, math.inf)), ("steps_per_sec", (-math.inf, math.inf)),
    ("val/ACC", (-math.inf, math.inf)), ("accuracy_delta", (-math.inf, math.inf)),
])  # fmt: skip
def test_metric_bounds_by_name(metric: str, bounds: tuple[float, float]) -> None:
    assert metric_bounds(metric) == bounds


def test_seed_interval_edges_name_what_they_are() -> None:
    none = seed_interval([])
    assert math.isnan(none.low) and math.isnan(none.high) and none.kind == "none"
    one = seed_interval([0.25, math.nan])
    assert (one.low, one.high, one.kind) == (0.25, 0.25, "one run")
    flat = seed_interval([0.5] * 6)
    assert (flat.low, flat.high, flat.kind) == (0.5, 0.5, "bootstrap")


def test_seed_interval_of_spread_one_is_a_real_interval() -> None:
    # ptp exactly 1: an interval around the mean 0.6, not the degenerate (0, 0)
    interval = seed_interval([0.0, 1.0, 0.0, 1.0, 1.0])
    assert interval.kind == "bootstrap"
    assert 0.0 <= interval.low < 0.6 < interval.high <= 1.0


def test_seed_interval_narrows_with_the_confidence_level_and_is_deterministic() -> None:
    values = [0.1, 0.4, 0.35, 0.8, 0.6, 0.55, 0.2]
    wide, narrow = seed_interval(values), seed_interval(values, confidence=0.5)
    assert narrow.low > wide.low and narrow.high < wide.high
    mean = float(np.mean(values))
    assert narrow.low < mean < narrow.high
    again = seed_interval(values)
    assert (again.low, again.high) == (wide.low, wide.high)


def test_seed_interval_never_leaves_the_given_bounds() -> None:
    values = [0.0, 0.05, 0.1, 0.9, 0.95, 1.0]
    free = seed_interval(values)
    assert free.low < 0.3 and free.high > 0.7  # so the bounds below do bind
    clipped = seed_interval(values, bounds=(0.3, 0.7))
    assert (clipped.low, clipped.high) == (0.3, 0.7)


def test_bootstrap_falls_back_to_percentile_when_bca_is_undefined(monkeypatch) -> None:
    """BCa is undefined when the bootstrap distribution lies on one side of the estimate (its
    bias correction is infinite); no small input of ours reaches that, so scipy's BCa answer is
    replaced by such an undefined one, and the real percentile interval must be used."""
    real = stats.bootstrap
    methods: list[str] = []

    def bootstrap(*args, method: str, **kwargs):
        methods.append(method)
        result = real(*args, method=method, **kwargs)
        if method == "BCa":  # one end undefined, as BCa reports it
            low, high = result.confidence_interval
            result.confidence_interval = type(result.confidence_interval)(math.nan, high)
        return result

    monkeypatch.setattr(stats, "bootstrap", bootstrap)
    values = np.array([0.1, 0.4, 0.35, 0.8, 0.6])
    low, high = st.bootstrap_mean_interval(values)
    assert methods == ["BCa", "percentile"]
    expected = real((values,), np.mean, method="percentile", n_resamples=st.BOOTSTRAP_RESAMPLES,
                    rng=np.random.default_rng(st.BOOTSTRAP_SEED)).confidence_interval
    assert (low, high) == (pytest.approx(expected.low), pytest.approx(expected.high))

    methods.clear()
    delta, interval = difference_interval([0.1, 0.4, 0.35, 0.8, 0.6], [0.0, 0.1, 0.2, 0.1, 0.3])
    assert methods == ["BCa", "percentile"]
    assert interval.kind == "bootstrap" and math.isfinite(interval.low)
    assert interval.low < delta < interval.high


@pytest.mark.parametrize("a,b", [
    ([3.0], [1.0, 2.0, 3.0, 3.0]),  # one run a side, tied: scipy's "exact" would say 0.8
    ([1.0, 2.0, 2.0, 5.0], [2.0]),
    ([0.5], [0.1, 0.2, 0.3, 0.4, 0.6]),
    ([1.0, 1.0], [1.0, 0.0, 0.0]),  # ties across the samples, two runs a side
    ([1.0, 0.5], [1.0, 1.0]),
    ([0.2, 0.9, 0.9], [0.9, 0.1, 0.1, 0.3]),
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95], [0.35, 0.45, 0.8, 0.85, 0.9, 0.97, 0.98, 0.99]),
])  # fmt: skip
def test_mann_whitney_equals_brute_force_enumeration(a: list[float], b: list[float]) -> None:
    # 8 vs 8 has 12870 splits, more than scipy's default 9999 resamples: only an exhaustive
    # enumeration gives the exact value
    assert mann_whitney_p(a, b) == pytest.approx(brute_force_mwu_p(a, b), abs=1e-12)


def test_mann_whitney_large_samples_use_the_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    a = list(np.round(rng.normal(0.0, 1.0, 12), 1))
    b = list(np.round(rng.normal(0.8, 1.0, 13), 1))  # C(25, 12) = 5.2e6 splits: asymptotic
    assert math.comb(25, 12) > st.EXACT_MWU_MAX_PARTITIONS
    assert mann_whitney_p(a, b) == pytest.approx(normal_mwu_p(a, b), rel=1e-9)
    assert mann_whitney_p(b, a) == pytest.approx(normal_mwu_p(a, b), rel=1e-9)


def test_mann_whitney_with_an_empty_side_is_nan() -> None:
    assert math.isnan(mann_whitney_p([1.0, 2.0], []))
    assert math.isnan(mann_whitney_p([], [1.0, 2.0, 3.0]))


@pytest.mark.parametrize("n,m", [(0, 3), (3, 0), (0, 0), (-1, 2)])
def test_smallest_p_is_nan_without_runs(n: int, m: int) -> None:
    assert math.isnan(mann_whitney_min_p(n, m))
    assert math.isnan(logrank_min_p(n, m))


def test_smallest_mann_whitney_p_at_one_run_a_side() -> None:
    assert mann_whitney_min_p(1, 1) == 1.0  # 2 / C(2, 1)
    assert mann_whitney_min_p(1, 3) == 0.5  # 2 / C(4, 1)
    assert mann_whitney_min_p(3, 1) == 0.5


@pytest.mark.parametrize("n,m", [(1, 1), (1, 3), (3, 1), (2, 2), (3, 3), (5, 4), (10, 10)])
def test_smallest_logrank_p_is_chi_square_of_n_minus_one(n: int, m: int) -> None:
    assert logrank_min_p(n, m) == pytest.approx(stats.chi2.sf(n + m - 1, 1), rel=1e-9)


def test_seeds_needed_searches_from_two_to_most_inclusive() -> None:
    assert seeds_needed(lambda n, m: 0.0, 0.05) == 2  # never 0 or 1 seeds
    only_from_51 = lambda n, m: 0.0 if n >= 51 else 1.0  # noqa: E731
    assert seeds_needed(only_from_51, 0.05) is None  # the default search stops at 50
    assert seeds_needed(only_from_51, 0.05, most=51) == 51
    assert seeds_needed(only_from_51, 0.05, most=60) == 51


def test_probability_of_superiority_counts_pairs_and_half_ties() -> None:
    a, b = [1.0, 2.0, 2.0], [2.0, 3.0]
    # lower is better (the default): a wins (1,2) (1,3) (2,3) (2,3), ties (2,2) twice
    assert probability_of_superiority(a, b) == pytest.approx((4 + 0.5 * 2) / 6)
    # higher is better: a wins no pair, the same two ties
    assert probability_of_superiority(a, b, mode="max") == pytest.approx((0 + 0.5 * 2) / 6)
    assert probability_of_superiority([0.5], [0.2]) == 0.0  # a single reference run
    assert probability_of_superiority([0.5], [0.2], mode="max") == 1.0
    assert math.isnan(probability_of_superiority([], [0.2]))
    assert math.isnan(probability_of_superiority([0.2], []))


def test_without_any_bootstrap_interval_the_interval_is_none(monkeypatch) -> None:
    """When neither BCa nor the percentile method gives finite end points (scipy answers NaN),
    the interval is `none`, never a NaN labelled `bootstrap`."""
    real = stats.bootstrap

    def undefined(*args, **kwargs):
        result = real(*args, **kwargs)
        result.confidence_interval = type(result.confidence_interval)(math.nan, math.nan)
        return result

    monkeypatch.setattr(stats, "bootstrap", undefined)
    values = [0.1, 0.4, 0.35, 0.8, 0.6]
    low, high = st.bootstrap_mean_interval(np.asarray(values))
    assert math.isnan(low) and math.isnan(high)
    interval = seed_interval(values)
    assert interval.kind == "none" and math.isnan(interval.low) and math.isnan(interval.high)
    delta, difference = difference_interval(values, [0.0, 0.1, 0.2, 0.1, 0.3])
    assert delta == pytest.approx(0.45 - 0.14)
    assert difference.kind == "none"
    assert math.isnan(difference.low) and math.isnan(difference.high)


def test_difference_interval_edges() -> None:
    delta, none = difference_interval([], [1.0])
    assert math.isnan(delta) and math.isnan(none.low) and math.isnan(none.high)
    assert none.kind == "none"
    delta, interval = difference_interval([1.0, 2.0], [0.5])  # one reference run: a range
    assert delta == 1.0
    assert (interval.low, interval.high, interval.kind) == (0.5, 1.5, "range")
    delta, flat = difference_interval([1.0] * 5, [0.25] * 5)
    assert (delta, flat.low, flat.high, flat.kind) == (0.75, 0.75, 0.75, "bootstrap")


def test_difference_interval_at_five_runs_a_side_is_a_bootstrap_around_the_difference() -> None:
    a = [0.9, 0.7, 0.8, 0.95, 0.6]
    b = [0.1, 0.3, 0.2, 0.25, 0.15]
    delta, interval = difference_interval(a, b)
    assert delta == pytest.approx(np.mean(a) - np.mean(b))
    assert interval.kind == "bootstrap"
    assert interval.low < delta < interval.high
    assert interval.high - interval.low < (max(a) - min(b)) - (min(a) - max(b))
    # one side without spread still has the other side's sampling error
    flat_delta, one_flat = difference_interval([0.5] * 5, b)
    assert one_flat.kind == "bootstrap" and one_flat.low < flat_delta < one_flat.high
    flat_delta, other_flat = difference_interval(a, [0.5] * 5)
    assert other_flat.kind == "bootstrap" and other_flat.low < flat_delta < other_flat.high
    for spread_one in ([0.0, 1.0, 0.0, 1.0, 1.0], [1.0, 2.0, 1.0, 1.0, 2.0]):  # ptp exactly 1
        flat_delta, interval = difference_interval(spread_one, [0.5] * 5)
        assert interval.low < flat_delta < interval.high
        flat_delta, interval = difference_interval([0.5] * 5, spread_one)
        assert interval.low < flat_delta < interval.high
    # shifting the variant by c shifts the difference and its interval by c (up to one step
    # of BCa's percentile grid: its bias correction compares floats that the shift rounds)
    shifted_delta, shifted = difference_interval([v + 2.0 for v in a], b)
    assert shifted_delta == pytest.approx(delta + 2.0)
    _, base = difference_interval(a, b)
    assert shifted.low == pytest.approx(base.low + 2.0, abs=0.02)
    assert shifted.high == pytest.approx(base.high + 2.0, abs=0.02)
    narrow = difference_interval(a, b, confidence=0.5)[1]
    assert base.low < narrow.low < narrow.high < base.high
    assert difference_interval(a, b)[1] == base  # fixed seed


def test_holm_reads_missing_values_from_a_pandas_like_column() -> None:
    adjusted = holm([0.01, None, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])


def test_stratified_iqm_interval_edges() -> None:
    assert stratified_iqm_interval([[1.0, 1.0], [1.0, 1.0]]) == (1.0, 1.0, 1.0)
    assert stratified_iqm_interval([[0.5]]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in stratified_iqm_interval([[], [math.nan]]))
    centre, low, high = stratified_iqm_interval([[0.0, 1.0]])  # two runs, spread exactly 1
    assert centre == 0.5 and low < high


def test_stratified_iqm_interval_against_a_numpy_stratified_bootstrap() -> None:
    """Each stratum resampled on its own, IQM of the pooled resample, 2.5/97.5 percentiles;
    Monte Carlo error of both at 2000 resamples is well below the tolerance."""
    rng = np.random.default_rng(11)
    strata = [list(rng.uniform(0, 1, 6)), list(rng.uniform(2, 3, 5)), list(rng.uniform(0, 3, 7))]
    centre, low, high = stratified_iqm_interval(strata)
    pooled = np.concatenate(strata)
    assert centre == pytest.approx(stats.trim_mean(pooled, 0.25))
    draws = np.array([
        stats.trim_mean(np.concatenate([rng.choice(s, len(s)) for s in strata]), 0.25)
        for _ in range(4000)
    ])  # fmt: skip
    assert low == pytest.approx(np.percentile(draws, 2.5), abs=0.06)
    assert high == pytest.approx(np.percentile(draws, 97.5), abs=0.06)
    half = stratified_iqm_interval(strata, confidence=0.5)
    assert low < half[1] < half[2] < high
    assert stratified_iqm_interval(strata) == (centre, low, high)  # fixed seed
