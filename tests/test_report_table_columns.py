"""Every column of the report's summary row, and its fallbacks, against values worked by hand.

The frames are built directly (the columns `load_runs` gives), so each test names the inputs
it depends on. Wilson's interval is the closed form (Wilson 1927): centre (k + z^2/2)/(n + z^2),
half-width z sqrt(k (n - k)/n + z^2/4)/(n + z^2). The smallest log-rank p with N runs in all is
chi2(1).sf(N - 1) (see test_report_statistics_exact.py).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatebench.report.survival import BUDGET_COLUMN, INTERVAL_COLUMN, Times, kaplan_meier
from gatebench.report.tables import (
    SUMMARY_COLUMNS,
    _median,
    _mode,
    _seed_values,
    chance_level,
    compared_split,
    problem_runs,
    statistics_values,
    summarize,
)

DEFAULTS = {
    "task": "adding", "length": 10, "variant": "lstm", "seed": 0, "source": "s",
    "status": "finished", "message": None, "metric": "mse", "metric_mode": "min",
    "final_metric": math.nan, "test_metric": math.nan, "norm_loss": math.nan,
    "test_norm_loss": math.nan, "steps": 1000, "steps_to_solve": math.nan, "params": 100,
    "baseline": 1 / 6, "task_params": None, BUDGET_COLUMN: 1000, INTERVAL_COLUMN: 100,
}  # fmt: skip


def run(**fields: object) -> dict[str, object]:
    row = {**DEFAULTS, **fields}
    row["source"] = f"{row['variant']}-T{row['length']}-s{row['seed']}"
    return row


def completed(variant: str, seed: int, mse: float, solved_at: int | None = None,
              **fields: object) -> dict[str, object]:  # fmt: skip
    """A solved (at `solved_at`) or finished run with the same value on validation and test."""
    status = "solved" if solved_at is not None else "finished"
    steps = solved_at if solved_at is not None else 1000
    return run(variant=variant, seed=seed, status=status, steps=steps,
               steps_to_solve=solved_at if solved_at is not None else math.nan,
               final_metric=mse, test_metric=mse, norm_loss=6 * mse, test_norm_loss=6 * mse,
               **fields)  # fmt: skip


def wilson(k: int, n: int, z: float = stats.norm.ppf(0.975)) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


MIXED = [
    # lstm (the reference): 3 solved, 1 finished; listed out of seed order on purpose
    completed("lstm", 3, 0.1), completed("lstm", 1, 0.002, 200), completed("lstm", 0, 0.001, 100),
    completed("lstm", 2, 0.003, 300),
    # gru: 1 solved, 1 diverged (its only unsolved run), 1 failed
    completed("gru", 0, 0.004, 150), run(variant="gru", seed=1, status="diverged", steps=40),
    run(variant="gru", seed=2, status="failed", steps=0),
    # rnn: 3 finished, none solved
    completed("rnn", 0, 0.1), completed("rnn", 1, 0.2), completed("rnn", 2, 0.3),
    # peephole: all solved; cifg: one of each
    completed("peephole", 0, 0.001, 100), completed("peephole", 1, 0.001, 100),
    completed("cifg", 0, 0.002, 100), completed("cifg", 1, 0.05),
]  # fmt: skip


@pytest.fixture  # per test: mutmut maps a function to the tests that run it
def mixed() -> pd.DataFrame:
    return summarize(pd.DataFrame(MIXED), reference="lstm").set_index("variant")


def test_reference_row_every_column(mixed: pd.DataFrame) -> None:
    row = mixed.loc["lstm"]
    assert (row["task"], row["length"], row["reference"]) == ("adding", 10, "lstm")
    assert (row["metric"], row["metric_mode"]) == ("test/mse", "min")
    assert row["seed_values"] == "0.001, 0.002, 0.003, 0.1"  # by seed, not by record order
    assert row["n_stat"] == 4
    assert row["mean"] == pytest.approx(0.106 / 4) and row["median"] == pytest.approx(0.0025)
    assert (row["ci_low"], row["ci_high"], row["ci_kind"]) == (0.001, 0.1, "range")
    assert row["norm_loss"] == pytest.approx(6 * 0.106 / 4)
    assert row["norm_loss_median"] == pytest.approx(0.015)
    assert row["norm_loss_ci_low"] == pytest.approx(0.006)
    assert row["norm_loss_ci_high"] == pytest.approx(0.6)
    assert row["solved_rate"] == 0.75
    low, high = wilson(3, 4)
    assert row["solved_ci_low"] == pytest.approx(low)
    assert row["solved_ci_high"] == pytest.approx(high)
    km = kaplan_meier(Times(events=np.array([100.0, 200.0, 300.0]), censored=np.array([1000.0])))
    assert row["km_median_steps"] == 200.0
    assert (row["km_low"], row["km_high"]) == (km.low, km.high)
    assert row["n_censored"] == 1
    assert row["params"] == 100 and row["baseline"] == pytest.approx(1 / 6)
    assert math.isnan(row["chance"])  # no chance level for an MSE


@pytest.mark.parametrize("variant,clustered", [
    ("lstm", True), ("gru", True),  # gru's only unsolved run diverged
    ("rnn", False), ("peephole", False), ("cifg", True),
])  # fmt: skip
def test_clustered_means_solved_and_unsolved_runs_both_present(mixed, variant, clustered) -> None:
    assert bool(mixed.loc[variant, "clustered"]) is clustered


def test_comparison_columns_against_the_reference(mixed: pd.DataFrame) -> None:
    gru = mixed.loc["gru"]
    # gru: times.n = 2 (1 solved + 1 diverged; the failed run is not an outcome), lstm: 4
    assert gru["min_p_logrank"] == pytest.approx(stats.chi2.sf(2 + 4 - 1, 1))
    assert gru["n_censored"] == 1
    rnn = mixed.loc["rnn"]
    assert rnn["min_p_welch"] == 0.0  # 3 vs 4 values: any t, any p is reachable
    assert rnn["p_superiority"] == pytest.approx((0 + 0.5 * 1) / 12)  # one tie at 0.1, else worse
    assert rnn["cliffs_delta"] == pytest.approx(2 * rnn["p_superiority"] - 1)
    assert math.isnan(gru["min_p_welch"])  # one value only: no t at all


def test_welch_is_reachable_with_two_values_a_side() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.1), completed("lstm", 1, 0.2),
                          completed("gru", 0, 0.3), completed("gru", 1, 0.5)])  # fmt: skip
    row = summarize(frame, reference="lstm").set_index("variant").loc["gru"]
    assert row["min_p_welch"] == 0.0


def test_cliffs_delta_is_nan_without_values() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.1), completed("lstm", 1, 0.2),
                          run(variant="gru", status="failed")])  # fmt: skip
    row = summarize(frame, reference="lstm").set_index("variant").loc["gru"]
    assert math.isnan(row["p_superiority"]) and math.isnan(row["cliffs_delta"])


def test_accuracy_table_mode_and_chance() -> None:
    params = json.dumps({"length": 10, "alphabet": 4})
    frame = pd.DataFrame([
        completed(v, s, acc, task="copy", metric="recall_acc", metric_mode="max",
                  task_params=params)
        for v, s, acc in [("lstm", 0, 0.9), ("lstm", 1, 0.8), ("gru", 0, 0.3), ("gru", 1, 0.25)]
    ])  # fmt: skip
    table = summarize(frame, reference="lstm").set_index("variant")
    assert list(table["metric_mode"]) == ["max", "max"]
    assert list(table["metric"]) == ["test/recall_acc", "test/recall_acc"]
    assert list(table["chance"]) == [0.25, 0.25]
    assert table.loc["gru", "p_superiority"] == 0.0  # lower accuracies: never better


def test_rows_are_ordered_reference_first_and_tables_by_task_and_length() -> None:
    frame = pd.DataFrame([
        completed("lstm", 0, 0.1, length=30), completed("rnn", 0, 0.2, length=30),
        completed("gru", 0, 0.1, length=10), completed("rnn", 0, 0.3, length=10),
        completed("lstm", 0, 0.2, length=10),
    ])  # fmt: skip
    table = summarize(frame, reference="rnn")
    assert list(zip(table["length"], table["variant"], strict=True)) == [
        (10, "rnn"), (10, "gru"), (10, "lstm"), (30, "rnn"), (30, "lstm")]


def test_empty_runs_give_the_summary_columns() -> None:
    assert list(summarize(pd.DataFrame()).columns) == SUMMARY_COLUMNS


def test_records_without_task_length_or_variant_are_keyed_not_dropped() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.1), completed("lstm", 1, 0.2),
                          completed(None, 0, 0.1, task=None, length=None),
                          completed("gru", 0, 0.1, length="n/a")])  # fmt: skip
    table = summarize(frame, reference="lstm")
    unknown = table[table["task"] == "?"]
    assert len(unknown) == 1
    assert (unknown["length"].iloc[0], unknown["variant"].iloc[0]) == (-1, "?")
    assert set(table["task"]) == {"adding", "?"}
    assert list(table.loc[table["variant"] == "gru", "length"]) == [-1]  # unreadable length
    assert table["length"].dtype.kind == "i"  # "T = 10", never "T = 10.0"


def test_a_frame_without_task_params_has_no_chance_level() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.9, metric="recall_acc", metric_mode="max")])
    table = summarize(frame.drop(columns=["task_params"]), reference="lstm")
    assert math.isnan(table["chance"].iloc[0])


def test_metric_and_mode_fallbacks_when_no_run_completed() -> None:
    failed = pd.DataFrame([run(status="failed", metric="mse", metric_mode=None)])
    row = summarize(failed).iloc[0]
    assert (row["metric"], row["metric_mode"]) == ("val/mse", "min")  # recorded metric kept
    nothing = pd.DataFrame([run(status="failed", metric=None, metric_mode=None)])
    assert summarize(nothing).iloc[0]["metric"] == "val/norm_loss"


@pytest.mark.parametrize("metric,params,chance", [
    ("test/recall_acc", {"alphabet": 4}, 0.25), ("val/recall_acc", {"alphabet": 10}, 0.1),
    ("test/acc", {"relevant": 3}, 0.125), ("acc", {"relevant": 1}, 0.5),
    ("test/acc", {"alphabet": 4}, math.nan),  # temporal order needs `relevant`
    ("test/recall_acc", {"relevant": 2}, math.nan), ("test/tol_acc", {"alphabet": 4}, math.nan),
    ("test/mse", {"alphabet": 4}, math.nan), ("test/seq_acc", {"alphabet": 4}, math.nan),
    ("recall_acc/x", {"alphabet": 4}, math.nan),
])  # fmt: skip
def test_chance_level(metric: str, params: dict, chance: float) -> None:
    value = chance_level(metric, json.dumps(params))
    assert (math.isnan(value) and math.isnan(chance)) or value == chance


@pytest.mark.parametrize("params", [None, "", "not json", "{}"])
def test_chance_level_without_usable_params_is_nan(params: str | None) -> None:
    assert math.isnan(chance_level("test/recall_acc", params))


def test_small_helpers() -> None:
    assert _mode(pd.Series([None, None], dtype=object)) is None
    assert _mode(pd.Series(["a", "b", "b", None])) == "b"
    assert _median(pd.Series(["n/a", 1, 3])) == 2.0
    assert math.isnan(_median(pd.Series([None, "n/a"])))


def test_statistics_values_default_column_seed_order_and_garbage() -> None:
    group = pd.DataFrame([completed("lstm", 2, 0.3), completed("lstm", 0, 0.1),
                          run(seed=1, status="failed", final_metric=0.7),
                          completed("lstm", 1, math.nan), {**completed("lstm", 3, 0.2),
                                                           "final_metric": "n/a"}])  # fmt: skip
    assert list(statistics_values(group)) == [0.1, 0.3]  # final_metric; failed, NaN, garbage out
    assert _seed_values(group, "final_metric") == "0.1, 0.3"


def test_compared_split() -> None:
    assert compared_split(pd.DataFrame([completed("lstm", 0, 0.1)])) == "test"
    assert compared_split(pd.DataFrame([completed("lstm", 0, 0.1)]).drop(
        columns=["test_metric"])) == "val"
    assert compared_split(pd.DataFrame(columns=["test_metric", "status"])) == "val"
    partly = pd.DataFrame([completed("lstm", 0, 0.1), {**completed("lstm", 1, 0.2),
                                                       "test_metric": "n/a"}])  # fmt: skip
    assert compared_split(partly) == "val"


def _messages(frame: pd.DataFrame) -> list[tuple[int, str]]:
    found = problem_runs(frame)
    return sorted((int(seed), str(message)) for seed, message in
                  zip(found["seed"], found["message"], strict=True))  # fmt: skip


def test_problem_runs_steps_rules_with_and_without_a_budget() -> None:
    frame = pd.DataFrame([
        run(seed=0, status="diverged", steps=math.nan, message="nan loss"),  # budget known
        run(seed=1, status="diverged", steps=40, message="nan loss"),
        run(seed=2, status="finished", steps=math.nan, final_metric=0.1, norm_loss=0.6,
            test_metric=0.1),
    ], index=[10, 11, 12])  # fmt: skip
    unplaced = "unsolved but recorded no steps: left out of steps to solve"
    assert _messages(frame) == [(0, "nan loss"), (1, "nan loss"), (2, unplaced)]
    no_budget = frame.drop(columns=[BUDGET_COLUMN])
    assert _messages(no_budget) == [(0, "nan loss"), (0, unplaced), (1, "nan loss"),
                                    (2, unplaced)]


def test_problem_runs_when_columns_are_absent() -> None:
    frame = pd.DataFrame([
        run(seed=0, status="solved", steps=math.nan, final_metric=0.1, norm_loss=0.6),
    ], index=[7]).drop(columns=["steps_to_solve", "test_metric", BUDGET_COLUMN])  # fmt: skip
    assert _messages(frame) == [
        (0, "solved but recorded no steps_to_solve: left out of steps to solve")]


def test_problem_runs_names_a_missing_key() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.1, task=None)])
    assert _messages(frame) == [(0, "record has no task")]


def test_problem_runs_test_metric_rule_for_runs_without_a_task() -> None:
    frame = pd.DataFrame([completed("lstm", 0, 0.1, task=None),
                          {**completed("lstm", 1, 0.2, task=None), "test_metric": math.nan}])
    no_test = ("completed but recorded no finite test metric: its table compares validation "
               "values instead")  # fmt: skip
    assert _messages(frame) == [(0, "record has no task"), (1, no_test),
                                (1, "record has no task")]
