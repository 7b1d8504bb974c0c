"""Report statistics equal scipy's on fixture records; Holm against a hand-worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.report.builder import _record, write_fixture_sweep, write_run
from scipy import stats

from gatebench.report import load_runs, markdown_tables, summarize
from gatebench.report.statistics import holm, mann_whitney_p, mean_ci, welch_p


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_fixture_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def summary(sweep):
    return summarize(load_runs([sweep.root]).runs, reference="lstm")


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


def test_mean_ci_equals_scipy_t_interval():
    values = [0.3, 0.1, 0.25, 0.4, 0.22]
    mean, low, high = mean_ci(values)
    want = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(want)


def test_small_samples_give_nan_not_errors():
    assert math.isnan(mean_ci([0.5])[1])
    assert mean_ci([0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert math.isnan(welch_p([0.1], [0.2, 0.3]))
    assert math.isnan(mann_whitney_p([], [0.2, 0.3]))


def test_summary_statistics_equal_scipy_on_fixture_records(sweep, summary):
    assert len(summary) == len(sweep.values)
    for (task, length, variant), values in sweep.values.items():
        key = (summary["task"] == task) & (summary["length"] == length)
        row = summary[key & (summary["variant"] == variant)].iloc[0]
        reference = sweep.values[(task, length, "lstm")]
        n = len(values)
        assert row["n_stat"] == n
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        low, high = stats.t.interval(0.95, n - 1, loc=np.mean(values), scale=stats.sem(values))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
        if variant == "lstm":
            assert math.isnan(row["p_welch"]) and math.isnan(row["p_mwu"])
            continue
        welch = stats.ttest_ind(values, reference, equal_var=False).pvalue
        mwu = stats.mannwhitneyu(values, reference, alternative="two-sided").pvalue
        assert row["p_welch"] == pytest.approx(welch, rel=1e-12)
        assert row["p_mwu"] == pytest.approx(mwu, rel=1e-12)


def test_holm_is_applied_within_each_task_length_table(summary):
    for _, table in summary.groupby(["task", "length"]):
        compared = table[table["variant"] != "lstm"]
        want = _holm_by_definition(list(compared["p_welch"]))
        np.testing.assert_allclose(compared["p_welch_holm"], want)
        want = _holm_by_definition(list(compared["p_mwu"]))
        np.testing.assert_allclose(compared["p_mwu_holm"], want)


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
