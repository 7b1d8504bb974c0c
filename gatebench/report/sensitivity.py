"""Sensitivity of each variant to each swept hyperparameter (issue 14.2; Greff et al. 2017, Fig. 6).

For every swept key: the compared metric of each (task, length, variant) at each of the key's
values, as the median and the [min, max] range over the runs at that value, one line per variant.
Other swept keys are pooled (marginalised) at each value, and the table says so. The metric is
the held-out test value where every completed run of the (task, length) has one, else the final
validation value (named in the `metric` column). Diverged runs have no value: they are counted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gatebench.report.selection import TABLE_KEYS, short

COLUMNS = [
    "task", "length", "variant", "key", "value", "metric", "median", "low", "high",
    "n_values", "n_diverged", "n_runs", "pooled_over", "baseline", "chance",
]  # fmt: skip


def compared_values(table: pd.DataFrame) -> tuple[str, pd.Series]:
    """(`test/<m>` or `val/<m>`, each run's value): test when every completed run has one."""
    metric = str(table["metric"].dropna().iloc[0]).split("/")[-1] if table["metric"].notna().any() \
        else "norm_loss"
    completed = table[table["status"].isin(("solved", "finished"))]
    test = pd.to_numeric(completed.get("test_metric"), errors="coerce")
    if len(completed) and test is not None and np.isfinite(test.to_numpy(dtype=float)).all():
        return f"test/{metric}", pd.to_numeric(table["test_metric"], errors="coerce")
    return f"val/{metric}", pd.to_numeric(table["final_metric"], errors="coerce")


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, math.nan, value)


def sensitivity_table(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (task, length, variant, key, value); see the module docstring."""
    from gatebench.report.selection import _as_text
    from gatebench.report.tables import chance_level

    rows = []
    base = runs.get("variant_base", runs["variant"])
    runs = runs.assign(variant=base)
    for (task, length), table in runs.groupby(["task", "length"], sort=True):
        metric, values = compared_values(table)
        name = metric.split("/")[-1]
        baselines = pd.to_numeric(table.get("baseline"), errors="coerce")
        baseline = float(baselines.median()) if name in ("loss", "mse") and baselines is not None \
            else math.nan
        params = table["task_params"].dropna() if "task_params" in table else pd.Series()
        chance = chance_level(metric, params.iloc[0] if len(params) else None)
        completed = table["status"].isin(("solved", "finished"))
        table = table.assign(_value=values.where(completed))
        for key in keys:
            texts = _as_text(table[key])
            if texts.nunique() < 2:
                continue
            others = ", ".join(short(k) for k in keys if k != key and table[k].nunique() > 1)
            for (variant, value), group in table.assign(_text=texts).groupby(
                ["variant", "_text"], sort=True
            ):
                finite = group["_value"].dropna().to_numpy(dtype=float)
                finite = finite[np.isfinite(finite)]
                rows.append(
                    {
                        "task": task, "length": length, "variant": variant, "key": short(key),
                        "value": value, "metric": metric,
                        "median": float(np.median(finite)) if finite.size else math.nan,
                        "low": float(finite.min()) if finite.size else math.nan,
                        "high": float(finite.max()) if finite.size else math.nan,
                        "n_values": int(finite.size),
                        "n_diverged": int((group["status"] == "diverged").sum()),
                        "n_runs": len(group), "pooled_over": others,
                        "baseline": baseline, "chance": chance,
                    }
                )  # fmt: skip
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    order = frame["value"].map(_sort_key)
    return (
        frame.assign(_order=order)
        .sort_values(["task", "length", "key", "variant", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def sensitivity_markdown(table: pd.DataFrame, files: list[Path]) -> str:
    """One table per (task, T, key): rows variants, columns the key's values."""
    if table.empty:
        return ""
    parts = [
        "## Sensitivity to each hyperparameter\n",
        "Each cell: median [min, max] of the compared metric over the runs at that value "
        "(diverged runs have no value; `d` counts them). Other swept keys are pooled at each "
        "value, as named. A flat row is a robust variant; a steep one needs tuning.\n",
    ]
    for (task, length, key), part in table.groupby(["task", "length", "key"], sort=True):
        values = list(dict.fromkeys(part["value"]))

        def cell(row: pd.Series) -> str:
            if row["n_values"] == 0:
                return f"- (d {row['n_diverged']}/{row['n_runs']})"
            text = f"{row['median']:.3g} [{row['low']:.3g}, {row['high']:.3g}]"
            return text + (f" (d {row['n_diverged']})" if row["n_diverged"] else "")

        wide = part.assign(_cell=part.apply(cell, axis=1)).pivot(
            index="variant", columns="value", values="_cell"
        )[values]
        pooled = part["pooled_over"].iloc[0]
        parts.append(
            f"### {task}, T = {int(length)}: `{part['metric'].iloc[0]}` against `{key}`"
            + (f" (pooled over {pooled})" if pooled else "")
            + "\n"
        )
        parts.append(wide.reset_index().to_markdown(index=False) + "\n")
    parts.extend(f"![{p.stem}]({p.name})\n" for p in files if p.suffix == ".png")
    return "\n".join(parts)


def sensitivity_plots(table: pd.DataFrame, out: Path) -> list[Path]:
    """`sensitivity_<task>_T<length>_<key>.png/.svg`: metric against the key's value, one line
    per variant in the report's palette (median, with the [min, max] range as error bars); the
    trivial baseline (losses) or chance (accuracies) dashed; log x for positive numeric values
    spanning at least a factor 10; the legend outside the panel."""
    from matplotlib.figure import Figure

    from gatebench.report.plots import DPI, PANEL_SIZE, variant_colors

    files: list[Path] = []
    for (task, length, key), part in table.groupby(["task", "length", "key"], sort=True):
        numeric = pd.to_numeric(part["value"], errors="coerce")
        categorical = numeric.isna().any()
        colors = variant_colors(part["variant"].unique())
        fig = Figure(figsize=(PANEL_SIZE[0] * 1.3, PANEL_SIZE[1]), layout="constrained")
        ax = fig.subplots()
        labels = list(dict.fromkeys(part["value"]))
        for variant, line in part.groupby("variant", sort=True):
            x = (
                [labels.index(v) for v in line["value"]]
                if categorical
                else pd.to_numeric(line["value"]).to_numpy()
            )
            y = line["median"].to_numpy(dtype=float)
            err = np.vstack([y - line["low"].to_numpy(float), line["high"].to_numpy(float) - y])
            ax.errorbar(x, y, yerr=np.nan_to_num(err, nan=0.0), marker="o", capsize=3,
                        color=colors[variant], label=variant)  # fmt: skip
        for column, label in (("baseline", "trivial baseline"), ("chance", "chance")):
            level = pd.to_numeric(part.get(column), errors="coerce")
            if level is not None and level.notna().any():
                ax.axhline(float(level.median()), color="black", linestyle="--", linewidth=1,
                           label=label)  # fmt: skip
                break
        if categorical:
            ax.set_xticks(range(len(labels)), labels)
        elif (numeric > 0).all() and numeric.max() / numeric.min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(f"{part['metric'].iloc[0]} (median, min-max)")
        ax.set_title(f"{task}, T = {int(length)}")
        ax.grid(alpha=0.3)
        fig.legend(loc="outside right center", fontsize="small")
        stem = f"sensitivity_{task}_T{int(length)}_{key.replace('.', '-')}"
        for suffix in (".png", ".svg"):
            path = out / f"{stem}{suffix}"
            fig.savefig(path, dpi=DPI)
            files.append(path)
    return files


__all__ = ["TABLE_KEYS", "sensitivity_markdown", "sensitivity_plots", "sensitivity_table"]
