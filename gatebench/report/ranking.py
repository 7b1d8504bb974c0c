"""Who won: the best variant of each table, and the overall ranking across tables.

Within a table variants are ordered by solved rate, then by the mean of the primary metric in
its direction. Across tables (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice", as rliable does): the interquartile mean of every run's `norm_loss` with a
stratified bootstrap interval (each task and length resampled on its own), and the average
within-table rank.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gatebench.report.records import COMPLETED_STATUSES
from gatebench.report.statistics import stratified_iqm_interval
from gatebench.report.tables import SPLIT_COLUMNS

RANKING_COLUMNS = ["variant", "tables", "mean_rank", "iqm_norm_loss", "iqm_low", "iqm_high",
                   "runs", "solved"]  # fmt: skip


def table_order(table: pd.DataFrame) -> pd.DataFrame:
    """One table's rows, best first: solved rate (high first), then the metric's mean."""
    sign = -1.0 if table["metric_mode"].iloc[0] == "max" else 1.0
    keyed = table.assign(
        _solved=-table["solved_rate"].fillna(-1.0),
        _metric=(sign * table["mean"]).fillna(math.inf),
    )
    return keyed.sort_values(["_solved", "_metric", "variant"]).drop(columns=["_solved", "_metric"])


def table_ranks(table: pd.DataFrame) -> pd.Series:
    """Rank of each variant in a table (1 = best; equal solved rate and mean share the average)."""
    ordered = table_order(table).reset_index(drop=True)
    position = pd.Series(np.arange(1, len(ordered) + 1, dtype=float))
    key = ordered["solved_rate"].astype(str) + "|" + ordered["mean"].astype(str)
    ranks = position.groupby(key.to_numpy()).transform("mean")
    return pd.Series(ranks.to_numpy(), index=ordered["variant"].to_numpy())


def overall_ranking(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: tables it ran, mean rank, IQM of norm_loss [stratified bootstrap
    95%], runs and runs solved; best (lowest IQM) first."""
    if summary.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    ranks: dict[str, list[float]] = {}
    strata: dict[str, list[np.ndarray]] = {}
    for (task, length), table in summary.groupby(["task", "length"], sort=True):
        for variant, rank in table_ranks(table).items():
            ranks.setdefault(str(variant), []).append(float(rank))
        split = str(table["metric"].iloc[0]).split("/")[0]
        norm_column = SPLIT_COLUMNS.get(split, SPLIT_COLUMNS["val"])[1]
        at = runs[(runs["task"] == task) & (pd.to_numeric(runs["length"]) == length)]
        at = at[at["status"].isin(COMPLETED_STATUSES)]
        for variant, group in at.groupby("variant"):
            values = pd.to_numeric(group[norm_column], errors="coerce").to_numpy(float)
            strata.setdefault(str(variant), []).append(values[np.isfinite(values)])
    rows = []
    for variant, variant_ranks in ranks.items():
        iqm, low, high = stratified_iqm_interval(strata.get(variant, []))
        of_variant = summary[summary["variant"] == variant]
        rows.append({
            "variant": variant,
            "tables": len(variant_ranks),
            "mean_rank": float(np.mean(variant_ranks)),
            "iqm_norm_loss": iqm,
            "iqm_low": low,
            "iqm_high": high,
            "runs": int(of_variant["n_runs"].sum()),
            "solved": int(of_variant["n_solved"].sum()),
        })  # fmt: skip
    ranking = pd.DataFrame(rows, columns=RANKING_COLUMNS)
    return ranking.sort_values(["iqm_norm_loss", "mean_rank", "variant"]).reset_index(drop=True)
