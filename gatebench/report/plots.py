"""Report plots: final metric against length, learning curves, survival curves, solved rates.

Figures are `matplotlib.figure.Figure` objects (no pyplot, no global backend switch), saved as
PNG and SVG. matplotlib and seaborn are imported only when a plot is drawn. Every panel has its
reference line (trivial baseline, norm_loss 1.0, or chance for accuracies); a variant has the
same colour in every report (`palette`); losses go on a log axis where they span decades.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gatebench.report.palette import variant_colors
from gatebench.report.records import COMPLETED_STATUSES
from gatebench.report.survival import solve_times, survival_curve
from gatebench.report.tables import SPLIT_COLUMNS, chance_level

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NORM_LOSS = "val/norm_loss"
PANEL_SIZE = (4.2, 3.2)  # inches per subplot
DPI = 110


DECADES_FOR_LOG = 1.0  # log axis where positive values span at least a decade


def _baseline_for(metric: str, baseline: float, chance: float = math.nan) -> float:
    """Reference level of a metric: 1.0 for norm_loss, the task's baseline for its loss (and
    for `mse`, the loss of the regression tasks), chance for accuracies, NaN where unknown."""
    name = metric.split("/")[-1]
    if name == "norm_loss":
        return 1.0
    if name in ("loss", "mse"):
        return baseline
    if name.endswith("acc"):
        return chance
    return math.nan


def use_log_axis(ax: object, values: np.ndarray, metric: str) -> bool:
    """Put a loss-like metric on a log y axis when its positive values span decades, with plain
    number tick labels (0.001, 0.01, 0.1, 1); accuracies stay linear."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    name = metric.split("/")[-1]
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data) & (data > 0)]
    if name.endswith("acc") or data.size < 2:
        return False
    if math.log10(data.max() / data.min()) < DECADES_FOR_LOG:
        return False
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))  # type: ignore[attr-defined]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # type: ignore[attr-defined]
    return True


def seed_band(curves: pd.DataFrame, solved_sources: set[str]) -> pd.DataFrame:
    """Median and interquartile range over runs at each step of one variant's curves.

    Each run's curve is carried forward across steps it did not log; a run that stopped early
    because it solved the task holds its last value to the end (otherwise the median of the
    remaining, unsolved seeds would rise after the solved ones stop).
    """
    wide = curves.pivot_table(index="step", columns="source", values="value", aggfunc="last")
    wide = wide.sort_index()
    for source in wide.columns:
        last = wide[source].last_valid_index()
        filled = wide[source].ffill()
        if source not in solved_sources and last is not None:
            filled = filled.where(wide.index <= last)
        wide[source] = filled
    return pd.DataFrame(
        {
            "median": wide.median(axis=1),
            "q25": wide.quantile(0.25, axis=1),
            "q75": wide.quantile(0.75, axis=1),
            "n": wide.notna().sum(axis=1),
        }
    )


def curve_metric(curves: pd.DataFrame, runs: pd.DataFrame) -> str:
    """`val/norm_loss` when logged, else `val/<primary metric>`, else the first val metric."""
    logged = set(curves["metric"].unique())
    if NORM_LOSS in logged:
        return NORM_LOSS
    primary = runs["metric"].dropna()
    if len(primary):
        name = str(primary.mode().iloc[0])
        name = name if "/" in name else f"val/{name}"
        if name in logged:
            return name
    val = sorted(m for m in logged if m.startswith("val/"))
    return val[0] if val else sorted(logged)[0]


def _legend(fig_axes: Sequence[object]) -> None:
    """One legend for the figure, outside the panels (right of them), with every label of any
    panel: a legend inside a panel covers curves."""
    handles: dict[str, object] = {}
    for ax in fig_axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):  # type: ignore[attr-defined]
            handles.setdefault(label, handle)
    figure = fig_axes[-1].figure  # type: ignore[attr-defined]
    figure.legend(handles.values(), handles.keys(), loc="outside right center", fontsize="small")


def learning_curves(curves: pd.DataFrame, runs: pd.DataFrame, task: str) -> Figure | None:
    """One panel per length of `task`: median and IQR over seeds per variant, baseline dashed.

    Every validation is a marker, so a run that solved at its first check (one point, or two
    with the step-0 validation) is still visible.
    """
    from matplotlib.figure import Figure

    task_curves = curves[curves["task"] == task]
    task_runs = runs[runs["task"] == task]
    if task_curves.empty:
        return None
    metric = curve_metric(task_curves, task_runs)
    task_curves = task_curves[task_curves["metric"] == metric]
    lengths = sorted(task_curves["length"].dropna().unique())
    colors = variant_colors(runs["variant"].dropna())
    solved = set(task_runs.loc[task_runs["status"] == "solved", "source"])
    fig = Figure(figsize=(PANEL_SIZE[0] * len(lengths), PANEL_SIZE[1]), layout="constrained")
    axes = fig.subplots(1, len(lengths), squeeze=False, sharey=True)[0]
    for ax, length in zip(axes, lengths, strict=True):
        at_length = task_curves[task_curves["length"] == length]
        for variant, group in at_length.groupby("variant", sort=True):
            band = seed_band(group, solved)
            ax.plot(band.index, band["median"], color=colors[variant], label=variant,
                    marker="o", markersize=3)  # fmt: skip
            ax.fill_between(band.index, band["q25"], band["q75"], color=colors[variant], alpha=0.2)
        at_runs = task_runs[task_runs["length"] == length]
        params = at_runs["task_params"].dropna() if "task_params" in at_runs else pd.Series()
        chance = chance_level(metric, params.iloc[0] if len(params) else None)
        level = _baseline_for(metric, at_runs["baseline"].median(), chance)
        if math.isfinite(level):
            kind = "chance" if metric.endswith("acc") else "trivial baseline"
            ax.axhline(level, color="black", linestyle="--", linewidth=1, label=kind)
        ax.set_title(f"{task}, T = {int(length)}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    use_log_axis(axes[0], task_curves["value"].to_numpy(float), metric)
    axes[0].set_ylabel(f"{metric} (median, IQR over seeds)")
    _legend(axes)
    return fig


def _run_values(runs: pd.DataFrame, task: str, split: str, which: int) -> pd.DataFrame:
    """(length, variant, value) of every completed run of `task`; which 0: metric, 1: norm_loss."""
    column = SPLIT_COLUMNS.get(split, SPLIT_COLUMNS["val"])[which]
    at = runs[(runs["task"] == task) & runs["status"].isin(COMPLETED_STATUSES)]
    values = pd.to_numeric(at[column], errors="coerce")
    return pd.DataFrame({"length": pd.to_numeric(at["length"]), "variant": at["variant"],
                         "value": values}).dropna()  # fmt: skip


def metric_vs_length(summary: pd.DataFrame, task: str, runs: pd.DataFrame | None = None
                     ) -> Figure | None:  # fmt: skip
    """The headline plot: final metric against length per variant: every seed's value (dots),
    the mean (line) and its interval (bars: bootstrap 95% from 5 runs, else min-max range);
    trivial baseline or chance dashed. Left: the primary metric; right: norm_loss (1.0 = the
    trivial baseline). Losses on a log axis where they span decades."""
    from matplotlib.figure import Figure

    table = summary[summary["task"] == task].sort_values("length")
    if table.empty:
        return None
    metric = str(table["metric"].mode().iloc[0])
    split = metric.split("/")[0]
    colors = variant_colors(table["variant"])
    variants = sorted(table["variant"].unique())
    fig = Figure(figsize=(PANEL_SIZE[0] * 2, PANEL_SIZE[1]), layout="constrained")
    left, right = fig.subplots(1, 2)
    kinds = sorted({k for k in table["ci_kind"].dropna() if k not in ("none", "one run")})
    interval_label = {"bootstrap": "bootstrap 95%", "range": "min-max range"}
    shown = " or ".join(interval_label.get(k, k) for k in kinds) or "no interval"
    panels = [
        (left, "mean", "ci_low", "ci_high", metric, 0),
        (right, "norm_loss", "norm_loss_ci_low", "norm_loss_ci_high", "norm_loss", 1),
    ]
    for ax, column, low, high, name, which in panels:
        dots = _run_values(runs, task, split, which) if runs is not None else pd.DataFrame()
        everything = [table[column].to_numpy(float)]
        for offset, variant in zip(np.linspace(-0.06, 0.06, len(variants)), variants, strict=True):
            rows = table[table["variant"] == variant]
            y = rows[column].to_numpy(dtype=float)
            err = np.vstack([y - rows[low].to_numpy(float), rows[high].to_numpy(float) - y])
            x = rows["length"].to_numpy(float) * 10**offset  # spread variants apart on log x
            ax.errorbar(x, y, yerr=np.nan_to_num(err, nan=0.0), marker="o", capsize=3,
                        color=colors[variant], label=variant)  # fmt: skip
            if not dots.empty:
                mine = dots[dots["variant"] == variant]
                x = mine["length"].to_numpy(float) * 10**offset
                ax.scatter(x, mine["value"], s=12, facecolors="none",
                           edgecolors=colors[variant], alpha=0.8, zorder=3)  # fmt: skip
                everything.append(mine["value"].to_numpy(float))
        baselines = table.groupby("length")["baseline"].median()
        chance = table.groupby("length")["chance"].median()
        levels = [_baseline_for(name, b, c) for b, c in zip(baselines, chance, strict=True)]
        kind = "chance" if name.split("/")[-1].endswith("acc") else "trivial baseline"
        if levels and all(math.isfinite(v) for v in levels):
            if len(set(levels)) == 1:
                ax.axhline(levels[0], color="black", linestyle="--", linewidth=1, label=kind)
            else:
                ax.plot(baselines.index, levels, "k--", linewidth=1, label=kind)
            everything.append(np.asarray(levels))
        ax.set_xscale("log")
        lengths = sorted(table["length"].unique())
        ax.set_xticks(lengths, [str(int(n)) for n in lengths])
        ax.minorticks_off()
        use_log_axis(ax, np.concatenate(everything), name)
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(f"final {name}\n(dots: seeds; mean, {shown})")
        ax.grid(alpha=0.3)
    left.set_title(f"{task}: {metric} vs T")
    right.set_title(f"{task}: distance from the trivial baseline")
    _legend([left, right])
    return fig


def survival_plot(runs: pd.DataFrame, task: str, summary: pd.DataFrame | None = None
                  ) -> Figure | None:  # fmt: skip
    """Kaplan-Meier curves per variant, one panel per length: the fraction of runs still
    unsolved against steps; `+` marks a censored (unsolved) run's last step."""
    from matplotlib.figure import Figure

    at = runs[(runs["task"] == task) & (runs["status"] != "failed")]
    if at.empty:
        return None
    lengths = sorted(pd.to_numeric(at["length"]).dropna().unique())
    colors = variant_colors(at["variant"].dropna())
    fig = Figure(figsize=(PANEL_SIZE[0] * len(lengths), PANEL_SIZE[1]), layout="constrained")
    axes = fig.subplots(1, len(lengths), squeeze=False, sharey=True)[0]
    for ax, length in zip(axes, lengths, strict=True):
        here = at[pd.to_numeric(at["length"]) == length]
        groups = list(here.groupby("variant", sort=True))
        for i, (variant, group) in enumerate(groups):
            times = solve_times(group)
            steps, surv = survival_curve(times)
            if steps.size == 0:
                continue
            width = 1.2 + 1.2 * (len(groups) - 1 - i)  # wider first: coinciding curves show
            ax.step(steps, surv, where="post", color=colors[variant], label=variant,
                    linewidth=width, alpha=0.85)  # fmt: skip
            if times.censored.size:
                level = np.interp(times.censored, steps, surv)
                ax.plot(times.censored, level, "+", color=colors[variant], markersize=9)
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(f"{task}, T = {int(length)}")
        ax.set_xlabel("step (known to the validation interval)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of runs still unsolved\n(Kaplan-Meier; + censored)")
    _legend(axes)
    return fig


def solved_heatmap(summary: pd.DataFrame, task: str) -> Figure | None:
    """Solved rate of `task` as a variant x length heatmap, cells annotated `solved/attempted`."""
    import seaborn as sns
    from matplotlib.figure import Figure

    table = summary[summary["task"] == task]
    if table.empty:
        return None
    rate = table.pivot(index="variant", columns="length", values="solved_rate")
    attempted = table["n_runs"] - table["n_failed"]
    counts = table.assign(label=table["n_solved"].astype(str) + "/" + attempted.astype(str))
    labels = counts.pivot(index="variant", columns="length", values="label").fillna("")
    width = 1.6 + 0.9 * rate.shape[1]
    fig = Figure(figsize=(max(width, 3.5), 1.2 + 0.45 * rate.shape[0]), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        rate,
        ax=ax,
        vmin=0,
        vmax=1,
        cmap="viridis",
        annot=labels.to_numpy(),
        fmt="",
        cbar_kws={"label": "solved rate"},
        linewidths=0.5,
    )
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("variant")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(f"{task}: runs solved")
    return fig


def safe_name(text: str) -> str:
    """A file-name-safe form of a task name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write `stem.png` and `stem.svg` into out_dir; returns both paths.

    The layout is computed once, for the PNG; the SVG reuses it (half the drawing time).
    """
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    fig.savefig(png, dpi=DPI)
    fig.set_layout_engine("none")
    fig.savefig(svg, dpi=DPI, metadata={"Date": None})  # no timestamp: reproducible files
    return [png, svg]


def write_plots(
    summary: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame, out_dir: Path
) -> list[Path]:
    """All report plots for every task into out_dir (PNG and SVG); returns the written paths."""
    written: list[Path] = []
    for task in sorted(summary["task"].unique()):
        stem = safe_name(task)
        figures = [
            (f"metric_vs_length_{stem}", metric_vs_length(summary, task, runs)),
            (f"curves_{stem}", learning_curves(curves, runs, task) if not curves.empty else None),
            (f"survival_{stem}", survival_plot(runs, task)),
            (f"solved_{stem}", solved_heatmap(summary, task)),
        ]
        for name, fig in figures:
            if fig is not None:
                written.extend(save_figure(fig, out_dir, name))
    return written
