"""Learning-rate robustness of each cell from its tuning runs (after arXiv 2508.19029, which
shows that narrow learning-rate windows confound recall comparisons).

Per (task, length, cell): the share of the grid's settings at which the median tuning run
solves (at least half of that setting's tuning runs solved), and the width of the working
window along the learning-rate key in decades, log10(largest / smallest working rate) (0 for a
single working rate; `>=` where the window reaches an end of the grid, so it may be wider; with
further grid keys, the widest window over their values). Reads the runs frame only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["task", "length", "variant", "settings", "working", "share", "window_decades",
           "window_open", "working_rates"]  # fmt: skip


def rate_key(keys: list[str]) -> str | None:
    """The learning-rate key among `keys` (`config.optimizer.lr`), or None."""
    found = [k for k in keys if k.split(".")[-1] in ("lr", "learning_rate")]
    return found[0] if found else None


def robustness_table(tuning: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """See the module docstring; `keys` are the grid's `config.*` columns."""
    lr = rate_key(keys)
    if tuning.empty or not keys:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    all_rates = sorted(pd.to_numeric(tuning[lr], errors="coerce").dropna().unique()) if lr \
        else []
    for (task, length, variant), group in tuning.groupby(["task", "length", "variant"],
                                                         sort=True):  # fmt: skip
        solved = (group["status"] == "solved").astype(float)
        per = group.assign(_solved=solved).groupby([group[k].astype(str) for k in keys])
        works = per["_solved"].mean() >= 0.5
        width, open_end, rates = math.nan, False, []
        if lr is not None:
            others = [k for k in keys if k != lr]
            width = 0.0 if works.any() else math.nan
            frame = works.reset_index()
            frame.columns = [*keys, "works"]
            frame[lr] = pd.to_numeric(frame[lr], errors="coerce")
            parts = frame.groupby(others) if others else [((), frame)]
            for _, part in parts:
                good = part.loc[part["works"], lr].dropna().sort_values().to_numpy(float)
                if good.size == 0:
                    continue
                span = float(np.log10(good[-1] / good[0])) if good[0] > 0 else math.nan
                if math.isnan(width) or span >= width:
                    width = span
                    rates = list(good)
                    open_end = bool(good[0] == all_rates[0] or good[-1] == all_rates[-1])
        rows.append({
            "task": task, "length": int(length), "variant": variant,
            "settings": int(works.size), "working": int(works.sum()),
            "share": float(works.mean()) if works.size else math.nan,
            "window_decades": width, "window_open": open_end,
            "working_rates": ", ".join(f"{r:g}" for r in rates),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def robustness_markdown(table: pd.DataFrame, files: list[Path]) -> str:
    if table.empty:
        return ""
    shown = table.assign(
        share=[f"{w}/{s} ({x:.2f})" for w, s, x in
               zip(table["working"], table["settings"], table["share"], strict=True)],
        window_decades=[
            "-" if not math.isfinite(w) else (f">= {w:.2g}" if o else f"{w:.2g}")
            for w, o in zip(table["window_decades"], table["window_open"], strict=True)
        ],
    ).drop(columns=["working", "settings", "window_open"])  # fmt: skip
    shown = shown.rename(columns={"share": "grid share where the median tuning run solves",
                                  "window_decades": "working window (decades of lr)"})
    lines = [
        "## Learning-rate robustness (tuning runs)\n",
        "Per cell, task and length, from the tuning runs: the share of the grid at which the "
        "median tuning run solves (at least half of the setting's runs), and the width of that "
        "working window in decades of the learning rate (`>=` where it reaches an end of the "
        "grid). A cell that works only in a narrow window can lose a comparison by its grid, not "
        "its memory (arXiv 2508.19029).\n",
        shown.to_markdown(index=False) + "\n",
    ]
    lines += [f"![{p.stem}]({p.name})\n" for p in files if p.suffix == ".png"]
    return "\n".join(lines) + "\n"


def robustness_plots(tuning: pd.DataFrame, keys: list[str], out: Path) -> list[Path]:
    """Per (task, length): solved share of the tuning runs against the learning rate, one line
    per cell (other grid keys pooled)."""
    lr = rate_key(keys)
    if lr is None or tuning.empty:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for (task, length), table in tuning.groupby(["task", "length"], sort=True):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        rates = pd.to_numeric(table[lr], errors="coerce")
        table = table.assign(_rate=rates, _solved=(table["status"] == "solved").astype(float))
        for variant, part in table.groupby("variant", sort=True):
            line = part.groupby("_rate")["_solved"].mean()
            ax.plot(line.index, line.to_numpy(), marker="o", label=str(variant))
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        if (rates > 0).all():
            ax.set_xscale("log")
        ax.set_xlabel(lr.removeprefix("config."))
        ax.set_ylabel("tuning runs solved (share)")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"{task}, T = {int(length)}: learning-rate window")
        ax.legend(fontsize=8)
        fig.tight_layout()
        for suffix in (".png", ".svg"):
            path = out / f"lr_window_{task}_T{int(length)}{suffix}"
            fig.savefig(path, dpi=110)
            files.append(path)
        plt.close(fig)
    return files
