"""Length generalisation: each variant's test metric against the test length (issue 14.6).

Reads the per-length test blocks of the runs (`tests.<L>.test/<name>` columns, see
`gatebench.report.records.test_blocks`): one row per (task, training T, variant, test length)
with the median and [min, max] over the runs of the primary metric and of `norm_loss` -- each
block normalised by the trivial baseline at its own length -- and, on every row of a (task, T,
variant), the score beyond the training range: each run's mean of the metric over its test
lengths above T, median [min, max] over the runs (Deletang et al. 2023's score, the mean accuracy
over the test lengths beyond the longest training length, when the metric is accuracy).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

COLUMN = re.compile(r"^tests\.(\d+)\.test/(.+)$")
COLUMNS = [
    "task", "length", "variant", "test_length", "metric", "median", "low", "high",
    "norm_loss_median", "n_values", "n_runs", "beyond_median", "beyond_low", "beyond_high",
    "baseline", "chance",
]  # fmt: skip
LOSS_METRICS = ("loss", "mse")  # metrics whose trivial baseline is the loss's


def long_tests(runs: pd.DataFrame) -> pd.DataFrame:
    """The per-length test values of every run, long: run index, test_length, name, value
    (only the lengths a run was tested at)."""
    parts = []
    for column in runs.columns:
        match = COLUMN.match(str(column))
        if match:
            parts.append(
                pd.DataFrame(
                    {
                        "_run": runs.index,
                        "test_length": int(match.group(1)),
                        "name": match.group(2),
                        "value": pd.to_numeric(runs[column], errors="coerce"),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["_run", "test_length", "name", "value"])
    long = pd.concat(parts, ignore_index=True)
    return long[long["value"].notna()]  # NaN: the run has no block at that length


def _stats(values: pd.Series) -> tuple[float, float, float, int]:
    data = values.dropna().to_numpy(dtype=float)
    data = data[np.isfinite(data)]
    if not data.size:
        return math.nan, math.nan, math.nan, 0
    return float(np.median(data)), float(data.min()), float(data.max()), int(data.size)


def generalisation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, T, variant, test length); empty when no run tested another length."""
    long = long_tests(runs)
    if long.empty:
        return pd.DataFrame(columns=COLUMNS)
    from gatebench.report.tables import chance_level

    columns = ["task", "length", "variant", "metric", "status"]
    params = runs["task_params"] if "task_params" in runs else pd.Series(None, index=runs.index)
    long = long.join(runs[columns].assign(task_params=params), on="_run")
    long = long[long["status"].isin(("solved", "finished"))]
    rows = []
    for (task, length, variant), group in long.groupby(["task", "length", "variant"], sort=True):
        if group["test_length"].nunique() < 2:
            continue
        metric = str(group["metric"].dropna().iloc[0]).split("/")[-1]
        beyond = group[(group["test_length"] > length) & (group["name"] == metric)]
        per_run = beyond.groupby("_run")["value"].mean()
        b_median, b_low, b_high, _ = _stats(per_run)
        for test_length, at in group.groupby("test_length", sort=True):
            median, low, high, n = _stats(at.loc[at["name"] == metric, "value"])
            norm, _, _, _ = _stats(at.loc[at["name"] == "norm_loss", "value"])
            # the trivial baseline at this length, per run: loss / norm_loss
            blocks = at.pivot_table(index="_run", columns="name", values="value")
            ratio = (blocks["loss"] / blocks["norm_loss"]) if {"loss", "norm_loss"} <= set(
                blocks.columns) else pd.Series(dtype=float)  # fmt: skip
            baseline = _stats(ratio)[0] if metric in LOSS_METRICS else math.nan
            task_params = at["task_params"].dropna()
            chance = chance_level(metric, task_params.iloc[0] if len(task_params) else None)
            rows.append(
                {
                    "task": task, "length": int(length), "variant": variant,
                    "test_length": int(test_length), "metric": f"test/{metric}",
                    "median": median, "low": low, "high": high, "norm_loss_median": norm,
                    "n_values": n, "n_runs": int(at["_run"].nunique()),
                    "beyond_median": b_median, "beyond_low": b_low, "beyond_high": b_high,
                    "baseline": baseline, "chance": chance,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def generalisation_markdown(table: pd.DataFrame, files: list[Path]) -> str:
    """One table per (task, T): rows variants, columns test lengths."""
    if table.empty:
        return ""
    parts = [
        "## Length generalisation\n",
        "Trained at T, tested at each length: median [min, max] of the test metric over the "
        "completed runs, and `norm_loss` (loss / the trivial baseline at that test length; 1.0 "
        "= learned nothing). `mean L > T`: each run's mean of the test metric over its test "
        "lengths above T, median [min, max] over the runs (with accuracy, the score of Deletang "
        "et al. 2023: mean accuracy beyond the training range).\n",
    ]
    for (task, length), part in table.groupby(["task", "length"], sort=True):
        def cell(row: pd.Series) -> str:
            if not row["n_values"]:
                return "-"
            return (
                f"{row['median']:.3g} [{row['low']:.3g}, {row['high']:.3g}]; "
                f"norm {row['norm_loss_median']:.3g}"
            )

        wide = part.assign(_cell=part.apply(cell, axis=1)).pivot(
            index="variant", columns="test_length", values="_cell"
        )
        wide.columns = [f"L = {c}" for c in wide.columns]
        scores = part.groupby("variant").first()
        if scores["beyond_median"].notna().any():
            wide["mean L > T"] = [
                "-" if math.isnan(r["beyond_median"]) else
                f"{r['beyond_median']:.3g} [{r['beyond_low']:.3g}, {r['beyond_high']:.3g}]"
                for _, r in scores.loc[wide.index].iterrows()
            ]  # fmt: skip
        parts.append(f"### {task}, trained at T = {length}: `{part['metric'].iloc[0]}`\n")
        parts.append(wide.reset_index().to_markdown(index=False) + "\n")
    parts.extend(f"![{p.stem}]({p.name})\n" for p in files if p.suffix == ".png")
    return "\n".join(parts)


def generalisation_plots(table: pd.DataFrame, out: Path) -> list[Path]:
    """`length_<task>_T<T>.png/.svg`: left, the test metric against the test length (median and
    [min, max] per variant) with the trivial baseline at each length (losses) or chance
    (accuracies) dashed; right, `norm_loss` (1.0 = the trivial baseline, dashed). The training
    length dotted, the report's palette, the legend outside the panels."""
    from matplotlib.figure import Figure

    from gatebench.report.plots import DPI, PANEL_SIZE, variant_colors

    files: list[Path] = []
    for (task, length), part in table.groupby(["task", "length"], sort=True):
        colors = variant_colors(part["variant"].unique())
        fig = Figure(figsize=(PANEL_SIZE[0] * 2, PANEL_SIZE[1]), layout="constrained")
        left, right = fig.subplots(1, 2)
        for variant, line in part.groupby("variant", sort=True):
            y = line["median"].to_numpy(dtype=float)
            err = np.vstack([y - line["low"].to_numpy(float), line["high"].to_numpy(float) - y])
            left.errorbar(line["test_length"], y, yerr=np.nan_to_num(err, nan=0.0), marker="o",
                          capsize=3, color=colors[variant], label=variant)  # fmt: skip
            right.plot(line["test_length"], line["norm_loss_median"], marker="o",
                       color=colors[variant])  # fmt: skip
        levels = part.groupby("test_length")[["baseline", "chance"]].median()
        if levels["baseline"].notna().all():
            left.plot(levels.index, levels["baseline"], "k--", linewidth=1,
                      label="trivial baseline")  # fmt: skip
        elif levels["chance"].notna().all():
            left.axhline(float(levels["chance"].median()), color="black", linestyle="--",
                         linewidth=1, label="chance")  # fmt: skip
        right.axhline(1.0, color="black", linestyle="--", linewidth=1)
        for ax in (left, right):
            ax.axvline(length, color="grey", linestyle=":", linewidth=1)
            ax.set_xlabel("test length (dotted: training length)")
            ax.grid(alpha=0.3)
        left.set_ylabel(f"{part['metric'].iloc[0]} (median, min-max)")
        right.set_ylabel("test norm_loss (median; 1 = trivial baseline)")
        left.set_title(f"{task}, trained at T = {length}")
        right.set_title("distance from the trivial baseline")
        fig.legend(loc="outside right center", fontsize="small")
        for suffix in (".png", ".svg"):
            path = out / f"length_{task}_T{length}{suffix}"
            fig.savefig(path, dpi=DPI)
            files.append(path)
    return files
