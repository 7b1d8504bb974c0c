"""Report plots of the runs' diagnostics.npz: why a cell remembers or forgets.

Per task and length, one figure of three panels, a line or point per seed, a fixed colour per
variant (`plots.variant_colors`):
  1. ||dL/dh_t|| (median over the fixed batch) against steps back from the readout, log y, at
     initialisation (dashed) and at the end (solid): a plain RNN's gradient decays
     exponentially, a gated cell's stays nearly flat (Hochreiter & Schmidhuber 1997; Bengio et
     al. 1994);
  2. the keep gate (LSTM forget gate f, GRU z) averaged over units on one example over time at
     the end, with that example's marked inputs drawn as vertical lines;
  3. retention at the marked inputs (share of what was written there that survives to the
     readout: the product of keep gates), per variant, init (hollow) and end (filled).
Reads diagnostics.npz with numpy only (no torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatebench.report.plots import DPI, safe_name, save_figure, variant_colors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DIAGNOSTICS_FILE = "diagnostics.npz"
MEDIAN = 2  # index of the median in the stored quantiles (0.05, 0.25, 0.5, 0.75, 0.95)


def load(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one diagnostics.npz (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _runs_with_diagnostics(runs: pd.DataFrame) -> list[tuple[pd.Series, dict[str, np.ndarray]]]:
    found = []
    for _, row in runs.iterrows():
        path = Path(str(row.get("source", ""))) / DIAGNOSTICS_FILE
        if path.is_file():
            found.append((row, load(path)))
    return found


def _snapshot(data: dict[str, np.ndarray], label: str) -> int | None:
    labels = list(data["labels"])
    return labels.index(label) if label in labels else None


def _grad_panel(ax: Any, items: list, colors: dict) -> None:
    for row, data in items:
        readout = int(np.median(data["readout"]))
        h = list(data["state_names"]).index("h")
        for label, style in (("init", "--"), ("end", "-")):
            s = _snapshot(data, label)
            if s is None:
                continue
            profile = data["grad_quantiles"][s, h, : readout + 1, MEDIAN][::-1]
            back = np.arange(profile.size)
            shown = np.where(profile > 0, profile, np.nan)
            ax.plot(back, shown, style, color=colors[row["variant"]], linewidth=1.2, alpha=0.85)
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the readout")
    ax.set_ylabel("||dL/dh_t|| (median over batch)")
    ax.set_title("gradient flow through time\n(dashed: init, solid: end)", fontsize=10)


def _gate_panel(ax: Any, items: list, colors: dict) -> bool:
    drawn = False
    marks: set[int] = set()
    for row, data in items:
        keep = str(data["keep_gate"])
        names = list(data["gate_names"])
        s = _snapshot(data, "end")
        if not keep or keep not in names or s is None:
            continue
        k = names.index(keep)
        color = colors[row["variant"]]
        ax.plot(data["example_gate"][s, k], color=color, linewidth=1.2, alpha=0.85)
        if "example_keep_unit" in data:
            ax.plot(data["example_keep_unit"][s], color=color, linewidth=1.0, linestyle="--")
        marks.update(int(p) for p in data["marked"][0])
        drawn = True
    for p in sorted(marks):
        ax.axvline(p, color="black", linestyle=":", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step t (dotted: marked inputs of this example)")
    ax.set_ylabel("keep gate (f; GRU z)")
    ax.set_title("keep gate on one example, end (solid: mean over units,\n"
                 "dashed: the unit that keeps the 1st marked input best)", fontsize=10)
    return drawn


def _retention_panel(ax: Any, items: list, colors: dict, order: list[str]) -> None:
    markers = "o^sDv"
    shown: list[float] = []
    for row, data in items:
        x = order.index(row["variant"])
        if not str(data["keep_gate"]):
            ax.text(x, 0.5, "no keep gate", ha="center", va="center", fontsize=8,
                    rotation=90, transform=ax.get_xaxis_transform())
        for label, filled in (("init", False), ("end", True)):
            s = _snapshot(data, label)
            if s is None:
                continue
            for k, value in enumerate(data["retention_marked"][s]):
                if not np.isfinite(value):
                    continue
                color = colors[row["variant"]]
                shown.append(float(value))
                ax.scatter(x + (0.12 if filled else -0.12), value,
                           marker=markers[k % len(markers)], s=28,
                           facecolors=color if filled else "none", edgecolors=color)
    ax.set_xticks(range(len(order)), order, rotation=30)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_yscale("log")
    positive = [v for v in shown if v > 0]
    ax.set_ylim(min(positive + [0.1]) / 3, 2)
    ax.set_ylabel("retention to readout (mean over batch)")
    ax.set_title("retention of the marked inputs to the readout\n"
                 "(o 1st, ^ 2nd marked input; hollow: init, filled: end)", fontsize=10)


def task_figure(items: list, task: str, length: int, colors: dict) -> Figure:
    """The three-panel diagnostics figure of one (task, length)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(14.5, 4.4), layout="constrained", dpi=DPI)
    axes = fig.subplots(1, 3)
    order = sorted({str(row["variant"]) for row, _ in items})
    _grad_panel(axes[0], items, colors)
    if not _gate_panel(axes[1], items, colors):
        axes[1].text(0.5, 0.5, "no cell with a keep gate", ha="center", transform=axes[1].transAxes)
    _retention_panel(axes[2], items, colors, order)
    handles = [Line2D([], [], color=colors[v], label=v) for v in order]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(order))
    fig.suptitle(f"{task}, T = {length}: why cells remember or forget (a line/point per seed)")
    return fig


def write_diagnostics_plots(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """`diagnostics_<task>_T<length>` (PNG, SVG) for each (task, length) with diagnostics."""
    items = _runs_with_diagnostics(runs)
    if not items:
        return []
    colors = variant_colors([str(v) for v in runs["variant"].dropna()])
    written: list[Path] = []
    groups: dict[tuple[str, int], list] = {}
    for row, data in items:
        groups.setdefault((str(row["task"]), int(row["length"])), []).append((row, data))
    for (task, length), group in sorted(groups.items()):
        fig = task_figure(group, task, length, colors)
        written.extend(save_figure(fig, Path(out_dir), f"diagnostics_{safe_name(task)}_T{length}"))
    return written


def run_figures(path: Path, out_dir: Path) -> list[Path]:
    """One run's figure (gate means over time, gradient flow, retention) as PNG in out_dir."""
    from matplotlib.figure import Figure

    data = load(Path(path))
    fig = Figure(figsize=(13, 3.6), layout="constrained", dpi=DPI)
    axes = fig.subplots(1, 3)
    for s in range(len(data["labels"])):
        alpha = 0.4 + 0.6 * s / max(1, len(data["labels"]) - 1)
        for k, name in enumerate(data["gate_names"]):
            axes[0].plot(data["gate_mean"][s, k], color=f"C{k}", alpha=alpha,
                         label=name if s == len(data["labels"]) - 1 else None)
        h = list(data["state_names"]).index("h")
        axes[1].plot(data["grad_quantiles"][s, h, :, MEDIAN], alpha=alpha, color="C0")
        axes[2].plot(data["retention"][s], alpha=alpha, color="C1")
    axes[0].set_title("gate means over time (faint: earlier)")
    if len(data["gate_names"]):
        axes[0].legend()
    axes[1].set_yscale("log")
    axes[1].set_title("||dL/dh_t|| (median)")
    axes[2].set_title("retention to the readout")
    png = Path(out_dir) / "diagnostics.png"
    fig.savefig(png, dpi=DPI)
    return [png]
