"""Summary tables: one row per (task, length, variant) with seed intervals, solved rates,
censored steps-to-solve, effect sizes and tests against the reference variant.

Only runs whose status is `solved` or `finished` and that produced a finite final metric enter
the metric statistics; diverged and failed runs are counted in their own columns (and listed by
`problem_runs`), never dropped silently. Diverged runs count as unsolved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from gatebench.report.family import TESTS, apply_family
from gatebench.report.records import COMPLETED_STATUSES, STATUSES
from gatebench.report.statistics import (
    difference_interval,
    logrank_min_p,
    mann_whitney_min_p,
    mann_whitney_p,
    metric_bounds,
    probability_of_superiority,
    seed_interval,
    solved_counts_min_p,
    solved_counts_p,
    welch_p,
    wilson_interval,
)
from gatebench.report.survival import (
    BUDGET_COLUMN,
    INTERVAL_COLUMN,
    kaplan_meier,
    logrank_p,
    solve_times,
    validation_interval,
)

SUMMARY_COLUMNS = [
    "task", "length", "variant", "n_runs", "n_solved", "n_finished", "n_diverged", "n_failed",
    "n_stat", "metric", "metric_mode", "seed_values", "mean", "median", "ci_low", "ci_high",
    "ci_kind",
    "clustered", "norm_loss", "norm_loss_median", "norm_loss_ci_low", "norm_loss_ci_high",
    "solved_rate", "solved_ci_low", "solved_ci_high",
    "km_median_steps", "km_low", "km_high", "n_censored", "val_interval",
    "params", "baseline", "chance", "reference",
    "diff", "diff_low", "diff_high", "diff_kind", "p_superiority", "cliffs_delta",
    *[f"p_{t}" for t in TESTS], *[f"min_p_{t}" for t in TESTS],
    *[f"p_{t}_holm" for t in TESTS], "family", "family_size",
]  # fmt: skip


USED_COLUMNS = {
    "task", "length", "variant", "seed", "source", "status", "metric", "metric_mode",
    "final_metric", "test_metric", "norm_loss", "test_norm_loss", "steps", "steps_to_solve",
    "params", "baseline", "task_params", BUDGET_COLUMN, INTERVAL_COLUMN,
}  # fmt: skip


def statistics_values(group: pd.DataFrame, column: str = "final_metric") -> np.ndarray:
    """The primary-metric values (`column`) of a group's completed runs, in seed order (so a
    seeded bootstrap does not depend on the order the records were read in)."""
    completed = group[group["status"].isin(COMPLETED_STATUSES)]
    completed = completed.sort_values(["seed", "source"])  # a multi-key sort is stable
    values = pd.to_numeric(completed[column], errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def compared_split(completed: pd.DataFrame) -> str:
    """`test` when every completed run of a table has a test metric, else `val`.

    The held-out test set is preferred: a solved run stops at the validation where it first met
    the criterion, so its final validation value is selected on that same set (biased).
    """
    if "test_metric" not in completed.columns or completed.empty:
        return "val"
    values = pd.to_numeric(completed["test_metric"], errors="coerce")
    return "test" if bool(np.isfinite(values.to_numpy(dtype=float)).all()) else "val"


# split -> (column of the primary metric, column of norm_loss) in the runs frame
SPLIT_COLUMNS = {"test": ("test_metric", "test_norm_loss"), "val": ("final_metric", "norm_loss")}


def chance_level(metric: str, task_params: str | None) -> float:
    """Accuracy of guessing, for accuracy metrics: 1/alphabet for `recall_acc` (copy tasks),
    1/2^relevant for `acc` (temporal order); NaN where the records do not say (e.g. `tol_acc`)."""
    import json

    name = metric.split("/")[-1]
    try:
        params = json.loads(task_params) if task_params else {}
    except ValueError:
        params = {}
    if name == "recall_acc" and params.get("alphabet"):
        return 1.0 / float(params["alphabet"])
    if name == "acc" and params.get("relevant"):
        return 1.0 / 2.0 ** float(params["relevant"])
    return math.nan


def _mode(series: pd.Series) -> object:
    """Most common non-null value of a column, or None."""
    counts = series.dropna().value_counts()
    return counts.index[0] if len(counts) else None


def _median(series: pd.Series) -> float:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.median()) if len(values) else math.nan


def _centre(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return math.nan, math.nan
    return float(values.mean()), float(np.median(values))


def _seed_values(group: pd.DataFrame, column: str) -> str:
    """Every completed run's value, by seed: `0.83, 0.13, 0.9`."""
    completed = group[group["status"].isin(COMPLETED_STATUSES)].sort_values("seed")
    values = pd.to_numeric(completed[column], errors="coerce").dropna()
    return ", ".join(f"{v:.3g}" for v in values)


def _variant_row(group: pd.DataFrame, metric: str, mode: str, split: str) -> dict[str, object]:
    """Counts, mean/median with a seed interval, norm_loss, solved rate with its Wilson
    interval, Kaplan-Meier steps to solve and cost of one variant's runs on `split`."""
    counts = {status: int((group["status"] == status).sum()) for status in STATUSES}
    values = statistics_values(group, SPLIT_COLUMNS[split][0])
    norms = statistics_values(group, SPLIT_COLUMNS[split][1])
    shown_metric = f"{split}/{metric.split('/')[-1]}"
    mean, median = _centre(values)
    interval = seed_interval(values, metric_bounds(shown_metric))
    norm_mean, norm_median = _centre(norms)
    norm_interval = seed_interval(norms, metric_bounds("norm_loss"))
    attempted = len(group) - counts["failed"]
    solved_low, solved_high = wilson_interval(counts["solved"], attempted)
    times = solve_times(group)
    km = kaplan_meier(times)
    unsolved = counts["finished"] + counts["diverged"]
    return {
        "n_runs": len(group),
        **{f"n_{status}": counts[status] for status in STATUSES},
        "n_stat": int(values.size),
        "metric": shown_metric,
        "metric_mode": mode,
        "seed_values": _seed_values(group, SPLIT_COLUMNS[split][0]),
        "mean": mean,
        "median": median,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "ci_kind": interval.kind,
        "clustered": bool(counts["solved"] > 0 and unsolved > 0),
        "norm_loss": norm_mean,
        "norm_loss_median": norm_median,
        "norm_loss_ci_low": norm_interval.low,
        "norm_loss_ci_high": norm_interval.high,
        "solved_rate": counts["solved"] / attempted if attempted else math.nan,
        "solved_ci_low": solved_low,
        "solved_ci_high": solved_high,
        "km_median_steps": km.median,
        "km_low": km.low,
        "km_high": km.high,
        "n_censored": int(times.censored.size),
        "val_interval": validation_interval(group),
        "params": _median(group["params"]),
        "baseline": _median(group["baseline"]),
        "chance": chance_level(shown_metric, _mode(group["task_params"])),
    }


def _comparison(
    group: pd.DataFrame,
    ref: pd.DataFrame,
    row: Mapping[str, object],
    ref_row: Mapping[str, object],
    column: str,
    mode: str,
) -> dict[str, object]:
    """Effect sizes and p-values (with the smallest p each test could give) vs the reference."""
    values, ref_values = statistics_values(group, column), statistics_values(ref, column)
    diff, interval = difference_interval(values, ref_values)
    superiority = probability_of_superiority(values, ref_values, mode)
    attempted = int(row["n_runs"]) - int(row["n_failed"])  # type: ignore[call-overload]
    ref_attempted = int(ref_row["n_runs"]) - int(ref_row["n_failed"])  # type: ignore[call-overload]
    times, ref_times = solve_times(group), solve_times(ref)
    both_two = values.size >= 2 and ref_values.size >= 2
    return {
        "diff": diff,
        "diff_low": interval.low,
        "diff_high": interval.high,
        "diff_kind": interval.kind,
        "p_superiority": superiority,
        "cliffs_delta": 2 * superiority - 1,  # NaN stays NaN
        "p_welch": welch_p(values, ref_values),
        "min_p_welch": 0.0 if both_two else math.nan,  # t is unbounded: any p is reachable
        "p_mwu": mann_whitney_p(values, ref_values),
        "min_p_mwu": mann_whitney_min_p(values.size, ref_values.size),
        "p_solved": solved_counts_p(
            int(row["n_solved"]),
            attempted,
            int(ref_row["n_solved"]),
            ref_attempted,  # type: ignore[call-overload]
        ),
        "min_p_solved": solved_counts_min_p(attempted, ref_attempted),
        "p_logrank": logrank_p(times, ref_times),
        "min_p_logrank": logrank_min_p(times.n, ref_times.n),
    }


def summarize(runs: pd.DataFrame, reference: str = "lstm", family: str = "study") -> pd.DataFrame:
    """One row per (task, length, variant) with tests against `reference`, Holm over `family`.

    The compared value is each run's primary metric on the held-out test set when every
    completed run of the table has one, else its final validation value (`compared_split`);
    the `metric` column names which (`test/mse`, `val/mse`). Tests, all two-sided (see
    `family.TESTS`): Welch's t and Mann-Whitney U on the metric, Boschloo's exact test on the
    solved counts, log-rank on steps to solve. `family="study"` (default) Holm-adjusts every
    testable p-value of the report together; `"table"` within each (task, length) and test.
    The solved rate counts diverged runs as unsolved and leaves failed runs (exceptions, not
    outcomes) out of the denominator.
    """
    if runs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    tables = []
    keyed = runs.assign(
        task=runs["task"].fillna("?"),
        length=pd.to_numeric(runs["length"], errors="coerce").fillna(-1).astype(int),
        variant=runs["variant"].fillna("?"),
    )
    if "task_params" not in keyed.columns:
        keyed["task_params"] = None
    keyed = keyed[[c for c in keyed.columns if c in USED_COLUMNS]]  # a frame, not 300 columns
    for (task, length), table_runs in keyed.groupby(["task", "length"]):  # sorted
        completed = table_runs[table_runs["status"].isin(COMPLETED_STATUSES)]
        metric = _mode(completed["metric"]) or _mode(table_runs["metric"]) or "norm_loss"
        mode = _mode(table_runs.loc[table_runs["metric"] == metric, "metric_mode"]) or "min"
        split = compared_split(completed)
        column = SPLIT_COLUMNS[split][0]
        by_variant = dict(tuple(table_runs.groupby("variant")))  # order: `_ordered`
        rows = {
            variant: {"task": task, "length": length, "variant": variant, "reference": reference,
                      **_variant_row(group, metric, mode, split)}
            for variant, group in by_variant.items()
        }  # fmt: skip
        for variant, row in rows.items():
            if variant != reference and reference in by_variant:
                row.update(_comparison(by_variant[variant], by_variant[reference], row,
                                       rows[reference], column, mode))  # fmt: skip
        tables.append(pd.DataFrame([rows[v] for v in _ordered(by_variant, reference)]))
    summary = pd.concat(tables, ignore_index=True).reindex(columns=SUMMARY_COLUMNS)
    return apply_family(summary, family)[SUMMARY_COLUMNS]


def _ordered(by_variant: Mapping[str, pd.DataFrame], reference: str) -> list[str]:
    """The reference variant first, the others alphabetically."""
    names = sorted(by_variant)
    return ([reference] if reference in by_variant else []) + [n for n in names if n != reference]


def problem_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not complete (`diverged`, `failed`, unknown status) or whose record lacks a
    value the report needs: one row per run and problem, with what is missing in `message`."""
    if runs.empty:
        return runs
    columns = ["task", "length", "variant", "seed", "status", "message", "source"]
    completed = runs["status"].isin(COMPLETED_STATUSES)
    problems = [runs.loc[~completed, columns]]

    def missing(mask: pd.Series, text: str) -> None:
        if mask.any():
            problems.append(runs.loc[mask, columns].assign(message=text))

    def absent(column: str) -> pd.Series:
        if column not in runs.columns:
            return pd.Series(True, index=runs.index)
        return pd.to_numeric(runs[column], errors="coerce").isna()

    missing(completed & absent("final_metric"), "completed but recorded no final metric")
    missing(completed & ~absent("final_metric") & absent("norm_loss"),
            "completed but recorded no finite norm_loss")  # fmt: skip
    missing((runs["status"] == "solved") & absent("steps_to_solve"),
            "solved but recorded no steps_to_solve: left out of steps to solve")  # fmt: skip
    no_budget = absent(BUDGET_COLUMN)
    unplaced = ((runs["status"] == "finished") & absent("steps")) | (
        (runs["status"] == "diverged") & absent("steps") & no_budget
    )
    missing(unplaced, "unsolved but recorded no steps: left out of steps to solve")
    for key in ("task", "variant", "length"):
        missing(runs[key].isna(), f"record has no {key}")
    if "test_metric" in runs.columns:
        has_test = ~absent("test_metric")
        table_has_test = has_test.groupby([runs["task"], runs["length"]], dropna=False).transform(
            "any"
        )
        missing(completed & ~has_test & table_has_test,
                "completed but recorded no finite test metric: its table compares validation "
                "values instead")  # fmt: skip
    if "record_problems" in runs.columns:
        flagged = runs["record_problems"].notna()
        if flagged.any():
            problems.append(runs.loc[flagged, columns].assign(
                message=runs.loc[flagged, "record_problems"]))  # fmt: skip
    found = pd.concat(problems)
    return found.sort_values(["task", "length", "variant", "seed"])  # NaN last
