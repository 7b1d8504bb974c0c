"""Summary tables: one row per (task, length, variant) with spread, baseline distance and tests.

Only runs whose status is `solved` or `finished` and that produced a finite final metric enter
the statistics; diverged and failed runs are counted in their own columns (and listed by
`problem_runs`), never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from gatebench.report.records import COMPLETED_STATUSES, STATUSES
from gatebench.report.statistics import holm, mann_whitney_p, mean_ci, welch_p

SUMMARY_COLUMNS = [
    "task", "length", "variant", "n_runs", "n_solved", "n_finished", "n_diverged", "n_failed",
    "n_stat", "metric", "metric_mode", "mean", "ci_low", "ci_high", "std", "norm_loss",
    "norm_loss_ci_low", "norm_loss_ci_high",
    "solved_rate", "median_steps_to_solve", "params", "baseline", "reference",
    "p_welch", "p_mwu", "p_welch_holm", "p_mwu_holm",
]  # fmt: skip


def statistics_values(group: pd.DataFrame, column: str = "final_metric") -> np.ndarray:
    """The primary-metric values (`column`) of a group's completed runs: the statistics' input."""
    completed = group[group["status"].isin(COMPLETED_STATUSES)]
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


def _mode(series: pd.Series) -> object:
    """Most common non-null value of a column, or None."""
    counts = series.dropna().value_counts()
    return counts.index[0] if len(counts) else None


def _median(series: pd.Series) -> float:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.median()) if len(values) else math.nan


def _variant_row(group: pd.DataFrame, metric: str, mode: str, split: str) -> dict[str, object]:
    """Counts, mean with 95% CI, norm_loss, solved rate and cost of one variant's runs; the
    metric and norm_loss are those of `split` (`test` or `val`)."""
    counts = {status: int((group["status"] == status).sum()) for status in STATUSES}
    values = statistics_values(group, SPLIT_COLUMNS[split][0])
    mean, low, high = mean_ci(values)
    completed = group[group["status"].isin(COMPLETED_STATUSES)]
    attempted = len(group) - counts["failed"]
    norm_column = SPLIT_COLUMNS[split][1]
    norm_values = pd.to_numeric(completed[norm_column], errors="coerce").to_numpy(dtype=float)
    norm_mean, norm_low, norm_high = mean_ci(norm_values)
    solved = group[group["status"] == "solved"]
    return {
        "n_runs": len(group),
        **{f"n_{status}": counts[status] for status in STATUSES},
        "n_stat": int(values.size),
        "metric": f"{split}/{metric.split('/')[-1]}",
        "metric_mode": mode,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "std": float(values.std(ddof=1)) if values.size > 1 else math.nan,
        "norm_loss": norm_mean,
        "norm_loss_ci_low": norm_low,
        "norm_loss_ci_high": norm_high,
        "solved_rate": counts["solved"] / attempted if attempted else math.nan,
        "median_steps_to_solve": _median(solved["steps_to_solve"]),
        "params": _median(group["params"]),
        "baseline": _median(group["baseline"]),
    }


def summarize(runs: pd.DataFrame, reference: str = "lstm") -> pd.DataFrame:
    """One row per (task, length, variant); p-values against `reference`, Holm per (task, length).

    The compared value is each run's primary metric (`metric` of its record, else `norm_loss`)
    on the held-out test set when every completed run of the table has one, else its final
    validation value (`compared_split`); the `metric` column names which (`test/mse`, `val/mse`).
    p-values are two-sided: Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`)
    and Mann-Whitney U; `*_holm` columns are Holm-adjusted within each (task, length) table over
    the variants compared with the reference. The solved rate counts diverged runs as unsolved
    and leaves failed runs (exceptions, not outcomes) out of the denominator.
    """
    if runs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    tables = []
    keyed = runs.assign(
        task=runs["task"].fillna("?"),
        length=pd.to_numeric(runs["length"], errors="coerce").fillna(-1).astype(int),
        variant=runs["variant"].fillna("?"),
    )
    for (task, length), table_runs in keyed.groupby(["task", "length"], sort=True):
        completed = table_runs[table_runs["status"].isin(COMPLETED_STATUSES)]
        metric = _mode(completed["metric"]) or _mode(table_runs["metric"]) or "norm_loss"
        mode = _mode(table_runs.loc[table_runs["metric"] == metric, "metric_mode"]) or "min"
        split = compared_split(completed)
        column = SPLIT_COLUMNS[split][0]
        by_variant = dict(tuple(table_runs.groupby("variant", sort=True)))
        reference_values = (
            statistics_values(by_variant[reference], column)
            if reference in by_variant
            else np.array([])
        )
        rows = []
        for variant in _ordered(by_variant, reference):
            group = by_variant[variant]
            row = {"task": task, "length": length, "variant": variant}
            row.update(_variant_row(group, metric, mode, split))
            row["reference"] = reference
            if variant == reference or reference not in by_variant:
                row["p_welch"] = row["p_mwu"] = math.nan
            else:
                values = statistics_values(group, column)
                row["p_welch"] = welch_p(values, reference_values)
                row["p_mwu"] = mann_whitney_p(values, reference_values)
            rows.append(row)
        table = pd.DataFrame(rows)
        table["p_welch_holm"] = holm(table["p_welch"].to_numpy())
        table["p_mwu_holm"] = holm(table["p_mwu"].to_numpy())
        tables.append(table)
    summary = pd.concat(tables, ignore_index=True)
    return summary[SUMMARY_COLUMNS]


def _ordered(by_variant: Mapping[str, pd.DataFrame], reference: str) -> list[str]:
    """The reference variant first, the others alphabetically."""
    names = sorted(by_variant)
    return ([reference] if reference in by_variant else []) + [n for n in names if n != reference]


def problem_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not complete (`diverged`, `failed`, unknown status) or left no final metric."""
    if runs.empty:
        return runs
    completed = runs["status"].isin(COMPLETED_STATUSES)
    no_metric = pd.to_numeric(runs["final_metric"], errors="coerce").isna()
    columns = ["task", "length", "variant", "seed", "status", "message", "source"]
    problems = runs.loc[~completed | no_metric, columns].copy()
    mask = (completed & no_metric)[problems.index]
    problems.loc[mask, "message"] = "completed but recorded no final metric"
    return problems.sort_values(["task", "length", "variant", "seed"], na_position="last")
