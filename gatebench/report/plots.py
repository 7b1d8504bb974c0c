"""Report plots: learning curves, final metric against sequence length, solved-rate heatmap.

Figures are `matplotlib.figure.Figure` objects (no pyplot, no global backend switch), saved as
PNG and SVG. matplotlib and seaborn are imported only when a plot is drawn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NORM_LOSS = "val/norm_loss"
PANEL_SIZE = (4.2, 3.2)  # inches per subplot
DPI = 110


def variant_colors(variants: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """A fixed color per variant (sorted names -> tab10), the same in every figure."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(sorted(set(variants)))}


def _baseline_for(metric: str, baseline: float) -> float:
    """Dashed baseline of a curve metric: 1.0 for norm_loss, the task's baseline for its loss
    (and for `mse`, which is the loss of the regression tasks), NaN where unknown (accuracies)."""
    name = metric.split("/")[-1]
    if name == "norm_loss":
        return 1.0
    if name in ("loss", "mse"):
        return baseline
    return math.nan


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


def learning_curves(curves: pd.DataFrame, runs: pd.DataFrame, task: str) -> Figure | None:
    """One panel per length of `task`: median and IQR over seeds per variant, baseline dashed."""
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
    positive = bool((task_curves["value"] > 0).all())
    for ax, length in zip(axes, lengths, strict=True):
        at_length = task_curves[task_curves["length"] == length]
        for variant, group in at_length.groupby("variant", sort=True):
            band = seed_band(group, solved)
            ax.plot(band.index, band["median"], color=colors[variant], label=variant)
            ax.fill_between(band.index, band["q25"], band["q75"], color=colors[variant], alpha=0.2)
        baseline = task_runs.loc[task_runs["length"] == length, "baseline"].median()
        level = _baseline_for(metric, baseline)
        if math.isfinite(level):
            ax.axhline(level, color="black", linestyle="--", linewidth=1, label="trivial baseline")
        if positive and metric.split("/")[-1] in ("norm_loss", "loss", "mse"):
            ax.set_yscale("log")
        ax.set_title(f"{task}, T = {int(length)}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} (median, IQR over seeds)")
    handles = {}  # every variant of any panel, not only those of the last one
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    axes[-1].legend(handles.values(), handles.keys(), fontsize="small")
    return fig


def metric_vs_length(summary: pd.DataFrame, task: str) -> Figure | None:
    """The headline plot: final metric (mean, 95% CI) against length per variant, baseline dashed.

    Left: the task's primary metric; right: norm_loss, where 1.0 is the trivial baseline.
    """
    from matplotlib.figure import Figure

    table = summary[summary["task"] == task].sort_values("length")
    if table.empty:
        return None
    metric = str(table["metric"].mode().iloc[0])
    colors = variant_colors(summary["variant"])
    fig = Figure(figsize=(PANEL_SIZE[0] * 2, PANEL_SIZE[1]), layout="constrained")
    left, right = fig.subplots(1, 2)
    panels = [
        (left, "mean", "ci_low", "ci_high", f"final {metric}"),
        (right, "norm_loss", "norm_loss_ci_low", "norm_loss_ci_high", "final norm_loss"),
    ]
    for ax, column, low, high, label in panels:
        for variant, rows in table.groupby("variant", sort=True):
            y = rows[column].to_numpy(dtype=float)
            err = np.vstack([y - rows[low].to_numpy(float), rows[high].to_numpy(float) - y])
            err = np.nan_to_num(err, nan=0.0)
            ax.errorbar(
                rows["length"],
                y,
                yerr=err,
                marker="o",
                capsize=3,
                color=colors[variant],
                label=variant,
            )
        ax.set_xscale("log")
        lengths = sorted(table["length"].unique())
        ax.set_xticks(lengths, [str(int(n)) for n in lengths])
        ax.minorticks_off()
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(f"{label} (mean, 95% CI)")
        ax.grid(alpha=0.3)
    baselines = table.groupby("length")["baseline"].median()
    levels = [_baseline_for(metric, b) for b in baselines]
    if len(levels) == 1 and math.isfinite(levels[0]):
        left.axhline(levels[0], color="black", linestyle="--", linewidth=1)
    elif levels and all(math.isfinite(v) for v in levels):
        left.plot(baselines.index, levels, "k--", linewidth=1, label="trivial baseline")
    right.axhline(1.0, color="black", linestyle="--", linewidth=1, label="trivial baseline")
    left.set_title(f"{task}: {metric} vs T")
    right.set_title(f"{task}: distance from the trivial baseline")
    right.legend(fontsize="small")
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
            (f"metric_vs_length_{stem}", metric_vs_length(summary, task)),
            (f"curves_{stem}", learning_curves(curves, runs, task) if not curves.empty else None),
            (f"solved_{stem}", solved_heatmap(summary, task)),
        ]
        for name, fig in figures:
            if fig is not None:
                written.extend(save_figure(fig, out_dir, name))
    return written
