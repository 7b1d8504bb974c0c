"""Length generalisation: each variant's test metric against the test length (issue 14.6).

Reads the per-length test blocks of the runs (`tests.<L>.test/<name>` columns, see
`gatebench.report.records.test_blocks`): one row per (task, training T, variant, test length)
with the median and [min, max] over the runs of the primary metric and of `norm_loss` -- each
block normalised by the trivial baseline at its own length.
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
    "norm_loss_median", "n_values", "n_runs",
]  # fmt: skip


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
    coordinates = runs[["task", "length", "variant", "metric", "status"]]
    long = long.join(coordinates, on="_run")
    long = long[long["status"].isin(("solved", "finished"))]
    rows = []
    for (task, length, variant), group in long.groupby(["task", "length", "variant"], sort=True):
        if group["test_length"].nunique() < 2:
            continue
        metric = str(group["metric"].dropna().iloc[0]).split("/")[-1]
        for test_length, at in group.groupby("test_length", sort=True):
            median, low, high, n = _stats(at.loc[at["name"] == metric, "value"])
            norm, _, _, _ = _stats(at.loc[at["name"] == "norm_loss", "value"])
            rows.append(
                {
                    "task": task, "length": int(length), "variant": variant,
                    "test_length": int(test_length), "metric": f"test/{metric}",
                    "median": median, "low": low, "high": high, "norm_loss_median": norm,
                    "n_values": n, "n_runs": int(at["_run"].nunique()),
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
        "= learned nothing).\n",
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
        parts.append(f"### {task}, trained at T = {length}: `{part['metric'].iloc[0]}`\n")
        parts.append(wide.reset_index().to_markdown(index=False) + "\n")
    parts.extend(f"![{p.stem}]({p.name})\n" for p in files if p.suffix == ".png")
    return "\n".join(parts)


def generalisation_plots(table: pd.DataFrame, out: Path) -> list[Path]:
    """`length_<task>_T<T>.png/.svg`: test metric against test length, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[Path] = []
    for (task, length), part in table.groupby(["task", "length"], sort=True):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for variant, line in part.groupby("variant", sort=True):
            y = line["median"].to_numpy(dtype=float)
            err = np.vstack([y - line["low"].to_numpy(float), line["high"].to_numpy(float) - y])
            ax.errorbar(line["test_length"], y, yerr=err, marker="o", capsize=3, label=variant)
        ax.axvline(length, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("test length (dotted: training length)")
        ax.set_ylabel(f"{part['metric'].iloc[0]} (median, min-max)")
        ax.set_title(f"{task}, trained at T = {length}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        for suffix in (".png", ".svg"):
            path = out / f"length_{task}_T{length}{suffix}"
            fig.savefig(path, dpi=120)
            files.append(path)
        plt.close(fig)
    return files
