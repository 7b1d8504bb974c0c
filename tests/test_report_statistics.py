"""Report statistics equal scipy's (and hand formulas) on fixture records; Holm by definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.report.builder import _record, write_fixture_sweep, write_run
from scipy import stats

from gatebench.report import load_runs, markdown_tables, summarize
from gatebench.report.family import family_size
from gatebench.report.statistics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    holm,
    mann_whitney_min_p,
    mann_whitney_p,
    seed_interval,
    welch_p,
    wilson_interval,
)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_fixture_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture  # per test: mutmut maps a function to the tests that run it
def summary(sweep):
    return summarize(load_runs([sweep.root]).runs, reference="lstm")


@pytest.fixture(scope="module")
def sweep6(tmp_path_factory):
    """Six seeds per cell: enough for the bootstrap interval."""
    root = tmp_path_factory.mktemp("sweep6")
    return write_fixture_sweep(root, variants=("lstm", "gru"), lengths=(10,), seeds=tuple(range(6)))


def _holm_by_definition(p: list[float]) -> list[float]:
    """Holm-adjusted p by the formula, written as loops: max over p_j <= p_i of (m - r_j) p_j."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    rank = {i: r for r, i in enumerate(order)}
    return [min(1.0, max((m - rank[j]) * p[j] for j in order[: rank[i] + 1])) for i in range(m)]


def test_holm_hand_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_nan_passes_through_and_is_not_counted():
    adjusted = holm([0.01, math.nan, 0.04])
    np.testing.assert_allclose(adjusted, [0.02, math.nan, 0.04])
    assert np.isnan(holm([math.nan])).all()
    assert holm([0.9, 0.8])[0] == 1.0  # capped at 1


def test_holm_matches_the_step_down_procedure():
    """Adjusted p <= alpha exactly for the hypotheses Holm's step-down procedure rejects."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        m = int(rng.integers(1, 8))
        p = rng.uniform(0, 0.2, size=m) ** 2
        alpha = 0.05
        rejected = np.zeros(m, dtype=bool)
        for k, i in enumerate(np.argsort(p)):
            if p[i] > alpha / (m - k):
                break
            rejected[i] = True
        np.testing.assert_array_equal(holm(p) <= alpha, rejected)
        np.testing.assert_allclose(holm(p), _holm_by_definition(list(p)))


def _scipy_bootstrap(values):
    result = stats.bootstrap(
        (np.asarray(values),), np.mean, confidence_level=0.95, method="BCa",
        n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED),
    )  # fmt: skip
    return tuple(result.confidence_interval)


def test_bootstrap_interval_equals_scipy_on_fixture_records(sweep6):
    summary = summarize(load_runs([sweep6.root]).runs)
    for (task, _length, variant), values in sweep6.values.items():
        row = summary[(summary["task"] == task) & (summary["variant"] == variant)].iloc[0]
        assert row["ci_kind"] == "bootstrap" and row["n_stat"] == 6
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(_scipy_bootstrap(values))


def test_below_five_runs_the_interval_is_the_range(sweep, summary):
    for (task, length, variant), values in sweep.values.items():
        key = (summary["task"] == task) & (summary["length"] == length)
        row = summary[key & (summary["variant"] == variant)].iloc[0]
        assert row["ci_kind"] == "range" and row["n_stat"] == len(values) == 4
        assert (row["ci_low"], row["ci_high"]) == (min(values), max(values))
        assert row["median"] == pytest.approx(np.median(values))


@pytest.mark.parametrize(
    ("values", "bounds"),
    [
        ([0.83, 0.13, 0.90], (0.0, 1.0)),  # copy recall, cifg T = 100: two clusters
        ([1.0, 0.125], (0.0, 1.0)),
        ([1.0, 1.0, 0.99, 0.125, 0.13], (0.0, 1.0)),  # bootstrap size, still two clusters
        ([1e-4, 0.16, 2e-4, 0.15, 1e-4, 3e-4], (0.0, math.inf)),  # MSE: solved and not
    ],
)
def test_intervals_of_clustered_values_stay_inside_the_metric_bounds(values, bounds):
    t_low, t_high = stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert t_low < bounds[0] or t_high > bounds[1]  # the old t interval leaves them
    got = seed_interval(values, bounds)
    assert bounds[0] <= got.low <= np.mean(values) <= got.high <= bounds[1]
    if len(values) >= 5:
        assert got.kind == "bootstrap"
        assert (got.low, got.high) == pytest.approx(_scipy_bootstrap(values))


def _wilson_by_formula(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_wilson_interval_equals_scipy_and_the_formula(summary):
    for _, row in summary.iterrows():
        attempted = int(row["n_runs"] - row["n_failed"])
        k = int(row["n_solved"])
        ci = stats.binomtest(k, attempted).proportion_ci(method="wilson")
        assert (row["solved_ci_low"], row["solved_ci_high"]) == pytest.approx((ci.low, ci.high))
        assert (row["solved_ci_low"], row["solved_ci_high"]) == pytest.approx(
            _wilson_by_formula(k, attempted), abs=1e-12
        )
    assert wilson_interval(3, 3)[0] == pytest.approx(0.4385, abs=1e-4)  # the figure


def test_tests_and_effect_sizes_equal_scipy(sweep, summary):
    for (task, length, variant), values in sweep.values.items():
        if variant == "lstm":
            continue
        key = (summary["task"] == task) & (summary["length"] == length)
        row = summary[key & (summary["variant"] == variant)].iloc[0]
        ref_row = summary[key & (summary["variant"] == "lstm")].iloc[0]
        reference = sweep.values[(task, length, "lstm")]
        welch = stats.ttest_ind(values, reference, equal_var=False).pvalue
        assert row["p_welch"] == pytest.approx(welch, rel=1e-12)
        # 4 vs 4, no ties: scipy's exact Mann-Whitney
        exact = stats.mannwhitneyu(values, reference, method="exact").pvalue
        assert row["p_mwu"] == pytest.approx(exact, rel=1e-9)
        assert row["min_p_mwu"] == pytest.approx(2 / math.comb(8, 4))
        a, n = int(row["n_solved"]), int(row["n_runs"] - row["n_failed"])
        b, m = int(ref_row["n_solved"]), int(ref_row["n_runs"] - ref_row["n_failed"])
        boschloo = stats.boschloo_exact([[a, b], [n - a, m - b]]).pvalue
        assert row["p_solved"] == pytest.approx(boschloo, rel=1e-9)
        assert row["diff"] == pytest.approx(np.mean(values) - np.mean(reference), rel=1e-12)
        assert (row["diff_low"], row["diff_high"]) == pytest.approx(
            (min(values) - max(reference), max(values) - min(reference))
        )
        u = stats.mannwhitneyu(values, reference).statistic / (len(values) * len(reference))
        better = 1 - u if row["metric_mode"] == "min" else u  # U counts values > reference
        assert row["p_superiority"] == pytest.approx(better)
        assert row["cliffs_delta"] == pytest.approx(2 * better - 1)


def test_mann_whitney_handles_ties_exactly():
    """Runs at accuracy 1.0 tie; the p-value is the exact permutation p over every split."""
    a, b = [1.0, 1.0, 0.9, 0.8], [0.5, 1.0, 0.2, 0.3]
    statistic = stats.mannwhitneyu(a, b).statistic
    pooled = np.array(a + b)
    from itertools import combinations

    more = 0
    splits = list(combinations(range(8), 4))
    for chosen in splits:
        rest = [i for i in range(8) if i not in chosen]
        u = stats.mannwhitneyu(pooled[list(chosen)], pooled[rest]).statistic
        more += abs(u - 8) >= abs(statistic - 8) - 1e-12
    assert mann_whitney_p(a, b) == pytest.approx(more / len(splits))


def test_smallest_achievable_mann_whitney_p_is_exact():
    assert mann_whitney_min_p(3, 3) == pytest.approx(0.1)
    assert mann_whitney_min_p(2, 2) == pytest.approx(1 / 3)
    for n, m in [(3, 3), (2, 4), (4, 5)]:
        separated = stats.mannwhitneyu(range(n), range(n, n + m), method="exact").pvalue
        assert mann_whitney_min_p(n, m) == pytest.approx(separated)


def _three_vs_three(root, values: dict[str, list[float]]) -> None:
    for variant, seeds in values.items():
        for seed, value in enumerate(seeds):
            record = _record("adding", 20, variant, seed, "val/mse", "min", 1 / 6)
            record.update(status="finished", steps=100, norm_loss=value * 6, params=10,
                          final={"val/mse": value, "val/norm_loss": value * 6},
                          test={"test/mse": value, "test/norm_loss": value * 6})  # fmt: skip
            write_run(root / f"{variant}-{seed}", record, None)


def test_three_vs_three_mann_whitney_is_shown_as_n_too_small(tmp_path):
    _three_vs_three(tmp_path, {"lstm": [0.1, 0.11, 0.12], "gru": [0.01, 0.011, 0.012]})
    summary = summarize(load_runs([tmp_path]).runs)
    gru = summary[summary["variant"] == "gru"].iloc[0]
    assert gru["p_mwu"] == pytest.approx(0.1)  # the smallest it can be: complete separation
    text = markdown_tables(summary)
    row = next(line for line in text.splitlines() if line.startswith("| gru"))
    assert "n too small (min p = 0.10)" in row
    assert math.isnan(gru["p_mwu_holm"])  # not in the family
    welch = stats.ttest_ind([0.01, 0.011, 0.012], [0.1, 0.11, 0.12], equal_var=False).pvalue
    assert gru["p_welch"] == pytest.approx(welch)
    # family: Welch and Boschloo (3 vs 3 can reach 0.031); no run solved, so no log-rank
    assert gru["family_size"] == 2 and gru["p_welch_holm"] == pytest.approx(2 * welch)


def test_study_family_size_is_the_number_of_comparisons_in_the_report(summary):
    tested = []
    for test in ("welch", "mwu", "solved", "logrank"):
        p, min_p = summary[f"p_{test}"], summary[f"min_p_{test}"]
        tested += [value for value, low in zip(p, min_p, strict=True)
                   if math.isfinite(value) and not low >= 0.05]  # fmt: skip
    assert (summary["family_size"] == len(tested)).all() and len(tested) > 12
    assert family_size(summary) == len(tested)
    adjusted = np.concatenate([summary[f"p_{t}_holm"].dropna() for t in
                               ("welch", "mwu", "solved", "logrank")])  # fmt: skip
    assert sorted(adjusted) == pytest.approx(sorted(_holm_by_definition(tested)))
    text = markdown_tables(summary)
    assert f"study-wide Holm correction (m = {len(tested)})" in text


def test_family_table_keeps_the_per_table_correction(sweep):
    summary = summarize(load_runs([sweep.root]).runs, family="table")
    for _, table in summary.groupby(["task", "length"]):
        compared = table[table["variant"] != "lstm"]
        for test in ("welch", "mwu"):
            want = _holm_by_definition(list(compared[f"p_{test}"]))
            np.testing.assert_allclose(compared[f"p_{test}_holm"], want)


def test_unknown_family_is_refused(summary, sweep):
    with pytest.raises(ValueError, match="--family 'paper': expected one of study, table"):
        summarize(load_runs([sweep.root]).runs, family="paper")


def test_small_samples_give_nan_not_errors():
    assert seed_interval([0.5]).kind == "one run"
    assert seed_interval([]).kind == "none"
    assert math.isnan(welch_p([0.1], [0.2, 0.3]))
    assert math.isnan(mann_whitney_p([], [0.2, 0.3]))


def test_diverged_and_failed_runs_are_counted_not_averaged(sweep, summary):
    row = summary[(summary["task"] == "adding") & (summary["length"] == 40)]
    gru = row[row["variant"] == "gru"].iloc[0]
    assert (gru["n_runs"], gru["n_diverged"], gru["n_stat"]) == (5, 1, 4)
    solved = sum(v < 0.1 * (1 / 6) for v in sweep.values[("adding", 40, "gru")])
    assert gru["n_solved"] == solved
    assert gru["solved_rate"] == pytest.approx(solved / 5)  # diverged counts as unsolved
    rnn = summary[(summary["task"] == "copy") & (summary["length"] == 10)]
    rnn = rnn[rnn["variant"] == "rnn"].iloc[0]
    assert (rnn["n_runs"], rnn["n_failed"], rnn["n_stat"]) == (5, 1, 4)
    assert rnn["solved_rate"] == pytest.approx(0.0)  # failed runs leave the denominator


def test_reference_absent_gives_nan_p_values(sweep):
    table = summarize(load_runs([sweep.root]).runs, reference="peephole")
    assert table["p_welch"].isna().all() and table["p_mwu_holm"].isna().all()
    assert "No tests: the reference variant `peephole`" in markdown_tables(table)


def _two_variant_sweep(root, test_values: dict[str, list]) -> None:
    """adding T=20, lstm and gru x 3 seeds; val/mse = 0.1 * (seed + 1), test/mse as given."""
    for variant, tests in test_values.items():
        for seed, test in enumerate(tests):
            record = _record("adding", 20, variant, seed, "val/mse", "min", 1 / 6)
            val = 0.1 * (seed + 1)
            record.update(status="finished", steps=100, norm_loss=val * 6, params=10,
                          final={"val/mse": val, "val/norm_loss": val * 6})  # fmt: skip
            if test is not None:
                record["test"] = {"test/mse": test, "test/norm_loss": test * 6}
            write_run(root / f"{variant}-{seed}", record, None)


def test_statistics_compare_the_test_set_when_every_run_has_it(tmp_path):
    tests = {"lstm": [0.01, 0.02, 0.04], "gru": [0.05, 0.07, 0.08]}
    _two_variant_sweep(tmp_path, tests)
    table = summarize(load_runs([tmp_path]).runs).set_index("variant")
    assert set(table["metric"]) == {"test/mse"}
    for variant, values in tests.items():
        assert table.loc[variant, "mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert table.loc[variant, "norm_loss"] == pytest.approx(6 * np.mean(values), rel=1e-12)
    welch = stats.ttest_ind(tests["gru"], tests["lstm"], equal_var=False).pvalue
    assert table.loc["gru", "p_welch"] == pytest.approx(welch, rel=1e-12)


def test_statistics_fall_back_to_validation_when_a_run_has_no_test(tmp_path):
    _two_variant_sweep(tmp_path, {"lstm": [0.01, None, 0.04], "gru": [0.05, 0.07, 0.08]})
    table = summarize(load_runs([tmp_path]).runs).set_index("variant")
    assert set(table["metric"]) == {"val/mse"}
    assert table.loc["gru", "mean"] == pytest.approx(0.2, rel=1e-12)  # mean of 0.1, 0.2, 0.3


def test_stratified_iqm_interval_matches_a_hand_rolled_stratified_bootstrap():
    from gatebench.report.statistics import stratified_iqm_interval

    rng = np.random.default_rng(3)
    strata = [rng.lognormal(-3, 1, size=3), rng.lognormal(-1, 0.5, size=3), [1.0, 0.9, 1.1]]
    centre, low, high = stratified_iqm_interval(strata)
    pooled = np.concatenate(strata)
    assert centre == pytest.approx(stats.trim_mean(pooled, 0.25))
    iqms = [  # resample each stratum on its own, 4000 times
        stats.trim_mean(np.concatenate([rng.choice(s, size=len(s)) for s in strata]), 0.25)
        for _ in range(4000)
    ]
    want = np.percentile(iqms, [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(want), rel=0.15)
