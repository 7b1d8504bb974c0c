"""Does the keep gate open before the loss falls? Memory and learning over training, per run.

Runs trained with diagnostics every N steps (`diagnostics.every=N`) record, at each snapshot,
the loss on a fixed held-out batch, the retention at the first marked input (the share of what
the cell wrote there that survives to the readout: the product of its keep gates, f for the LSTM
family, z for the GRU, averaged over units and the batch; Gers et al. 2000, c_t = f_t c_{t-1} +
...) and the gradient ratio ||dL/dh_first|| / ||dL/dh_readout|| (`gatebench.diagnostics`).
Per run, two events defined independently of each other:

- `t_loss`: the first snapshot at which the loss falls below `LOSS_LEVEL` = 0.25 of the task's
  trivial baseline. On the adding problem a model that adds only the second (near) marked
  number sits at 0.5 of the baseline (the first number's variance, 1/12, over the baseline's
  1/6), so crossing 0.25 means the far input is being used;
- `t_keep` (and `t_grad`): the first snapshot at which log retention (log gradient ratio) is
  half-way up its climb to its largest value over the run, from the lowest value before that
  maximum. Both are read from the first snapshot whose loss beats the baseline (`START_LEVEL`)
  on: in the first few steps every measure jumps by orders of magnitude while the output layer
  learns the mean, which is not the memory forming. A climb under `MIN_RISE` (2x) is no event.

The lead `t_loss - t_keep` > 0 says the keep gate had opened (half-way) before the far input was
used. Per (cell, T): the runs with both events, the median lead, the share of runs with a
positive lead and a two-sided sign test (scipy's `binomtest` on the non-zero leads).

    python -m gatebench.report.mechanism results/lag_scaling_fine/mechanism   # mechanism.md, .png

Records only: no torch, variants or tasks.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

LOSS_LEVEL = 0.25  # of the trivial baseline: below the adding problem's one-input plateau, 0.5
START_LEVEL = 1.0  # the rises are measured from the first snapshot that beats the baseline
MIN_RISE = 2.0  # a climb to less than 2x the low before it is no rise
COLUMNS = ["variant", "length", "seed", "status", "snapshots", "t_loss", "t_keep", "t_grad",
           "keep_rise", "grad_rise", "lead_keep", "lead_grad"]  # fmt: skip


def trajectory(record: dict) -> pd.DataFrame:
    """A record's diagnostics snapshots as columns step, norm_loss, retention, grad_ratio
    (retention and the gradient ratio at the first marked input; NaN where not recorded)."""
    baseline = float(record.get("baseline") or math.nan)
    rows = []
    for shot in (record.get("diagnostics") or {}).get("snapshots") or []:
        kept = shot.get("retention_marked") or [math.nan]
        ratio = shot.get("grad_ratio_h", math.nan)
        rows.append({"step": int(shot["step"]),
                     "norm_loss": float(shot.get("loss", math.nan)) / baseline,
                     "retention": math.nan if kept[0] is None else float(kept[0]),
                     "grad_ratio": math.nan if ratio is None else float(ratio)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["step", "norm_loss", "retention", "grad_ratio"])
    return frame.drop_duplicates("step").sort_values("step").reset_index(drop=True)


def half_rise(steps: np.ndarray, values: np.ndarray, start: float = 0.0) -> tuple[float, float]:
    """(step, rise) of the climb to a measure's largest value from `start` on: the rise is the
    largest value over the lowest one before it (both at or after `start`), and the step the
    first one after that low at which log(values) is half-way up; step NaN when the rise is
    under `MIN_RISE` or fewer than 2 values are positive and finite."""
    ok = np.isfinite(values) & (values > 0) & (steps >= start)
    if ok.sum() < 2:
        return math.nan, math.nan
    at, logs = steps[ok], np.log(values[ok])
    top = int(np.argmax(logs))
    bottom = int(np.argmin(logs[: top + 1]))
    rise = float(np.exp(logs[top] - logs[bottom]))
    if rise < MIN_RISE:
        return math.nan, rise
    half = logs[bottom] + (logs[top] - logs[bottom]) / 2
    return float(at[bottom + int(np.argmax(logs[bottom : top + 1] >= half))]), rise


def first_below(steps: np.ndarray, values: np.ndarray, level: float) -> float:
    below = np.isfinite(values) & (values < level)
    return float(steps[np.argmax(below)]) if below.any() else math.nan


def events(record: dict) -> dict:
    """One run's row: its events, the rises and the leads (NaN where an event is missing)."""
    path = trajectory(record)
    steps = path["step"].to_numpy(dtype=float)
    loss = path["norm_loss"].to_numpy(dtype=float)
    t_loss = first_below(steps, loss, LOSS_LEVEL)
    start = first_below(steps, loss, START_LEVEL)  # after the output layer's first transient
    if math.isnan(start):
        start = math.inf
    t_keep, keep_rise = half_rise(steps, path["retention"].to_numpy(dtype=float), start)
    t_grad, grad_rise = half_rise(steps, path["grad_ratio"].to_numpy(dtype=float), start)
    return {"variant": record.get("variant"), "length": record.get("length"),
            "seed": record.get("seed"), "status": record.get("status"),
            "snapshots": len(path), "t_loss": t_loss, "t_keep": t_keep, "t_grad": t_grad,
            "keep_rise": keep_rise, "grad_rise": grad_rise,
            "lead_keep": t_loss - t_keep, "lead_grad": t_loss - t_grad}  # fmt: skip


def read_records(root: str | Path) -> list[dict]:
    """Every results.json under `root` whose run took diagnostics at 3+ snapshots."""
    found = []
    for path in sorted(Path(root).rglob("results.json")):
        record = json.loads(path.read_text())
        if len((record.get("diagnostics") or {}).get("snapshots") or []) >= 3:
            found.append(record)
    if not found:
        raise ValueError(f"{root}: no run records with diagnostics over training "
                         "(train with diagnostics.every=N)")  # fmt: skip
    return found


def lead_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (cell, T): runs, runs whose loss fell, and for keep and grad: runs with both events,
    the median lead, the share of positive leads, and the sign test's two-sided p."""
    from scipy.stats import binomtest

    out = []
    for (variant, length), group in rows.groupby(["variant", "length"], sort=True):
        row = {"variant": variant, "length": int(length), "runs": len(group),
               "loss fell": int(group["t_loss"].notna().sum())}  # fmt: skip
        for measure in ("keep", "grad"):
            leads = group[f"lead_{measure}"].dropna().to_numpy(dtype=float)
            nonzero = leads[leads != 0]
            positive = int((nonzero > 0).sum())
            p = binomtest(positive, nonzero.size).pvalue if nonzero.size else math.nan
            row.update({f"{measure}: both events": int(leads.size),
                        f"{measure}: median lead": float(np.median(leads)) if leads.size
                        else math.nan,
                        f"{measure}: lead > 0": f"{positive}/{leads.size}",
                        f"{measure}: sign test p": float(p)})  # fmt: skip
        out.append(row)
    return pd.DataFrame(out)


def plot_mechanism(records: list[dict], rows: pd.DataFrame, path: str | Path) -> list[Path]:
    """Per (cell, T) a column: retention at the first marked input (top) and the loss over the
    baseline (bottom) against steps, one line per run, t_keep and t_loss marked."""
    from matplotlib.figure import Figure

    from gatebench.report.palette import variant_colors

    keys = sorted({(r["variant"], int(r["length"])) for r in records})
    colors = variant_colors(sorted({k[0] for k in keys}))
    figure = Figure(figsize=(3.0 * len(keys), 5.0), layout="constrained")
    axes = figure.subplots(2, len(keys), squeeze=False, sharex="col")
    for column, (variant, length) in enumerate(keys):
        top, bottom = axes[0][column], axes[1][column]
        for record in records:
            if (record["variant"], int(record["length"])) != (variant, length):
                continue
            path_ = trajectory(record)
            row = events(record)
            color = colors[variant]
            top.plot(path_["step"], path_["retention"], color=color, linewidth=0.8, alpha=0.7)
            bottom.plot(path_["step"], path_["norm_loss"], color=color, linewidth=0.8,
                        alpha=0.7)  # fmt: skip
            for ax, when, marker in [(top, row["t_keep"], "o"), (bottom, row["t_loss"], "v")]:
                if math.isfinite(when):
                    y = path_.loc[path_["step"] == when,
                                  "retention" if ax is top else "norm_loss"]  # fmt: skip
                    ax.plot([when], [float(y.iloc[0])], marker, color=color, markersize=4)
        top.set_yscale("log")
        bottom.set_yscale("log")
        bottom.axhline(LOSS_LEVEL, color="0.4", linewidth=0.7, linestyle="--")
        top.set_title(f"{variant}, T = {length}", fontsize=9)
        bottom.set_xlabel("step")
        if column == 0:
            top.set_ylabel("retention at the first input")
            bottom.set_ylabel("loss / baseline")
    path = Path(path)
    written = []
    for suffix in (".png", ".svg"):
        out = path.with_suffix(suffix)
        figure.savefig(out, dpi=120)
        written.append(out)
    return written


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def write_mechanism(root: str | Path, out_dir: str | Path | None = None,
                    plots: bool = True) -> Path:  # fmt: skip
    """mechanism.md (the lead table and one row per run) and mechanism.png in `out_dir`."""
    records = read_records(root)
    rows = pd.DataFrame([events(r) for r in records], columns=COLUMNS)
    table = lead_table(rows)
    out_dir = Path(out_dir) if out_dir is not None else Path(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = ["# Does the keep gate open before the loss falls?", "",
            f"{len(rows)} runs with diagnostics over training. t_loss: the first snapshot with "
            f"the loss below {LOSS_LEVEL} of the baseline; t_keep / t_grad: the first snapshot "
            "at which the retention / gradient ratio at the first marked input is half-way up "
            "(log scale) its climb to its largest value, from the lowest value before it, read "
            f"from the first snapshot that beats the baseline on (no event when the climb is "
            f"under {MIN_RISE:g}x). Lead = t_loss - t_keep (> 0: the gate opened first); sign "
            "test on the non-zero leads (`gatebench.report.mechanism`).", "",
            "| " + " | ".join(table.columns) + " |",
            "|" + "---|" * len(table.columns)]  # fmt: skip
    text += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(False)]
    text += ["", "## Runs", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    text += ["| " + " | ".join(_cell(v) for v in row) + " |"
             for row in rows.sort_values(["variant", "length", "seed"]).itertuples(False)]
    if plots:
        plot_mechanism(records, rows, out_dir / "mechanism.png")
        text += ["", "![retention and loss over training](mechanism.png)"]
    out = out_dir / "mechanism.md"
    out.write_text("\n".join(text) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatebench.report.mechanism",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("root", help="a directory of runs trained with diagnostics.every=N")
    parser.add_argument("--out", default=None, help="write here (default: ROOT)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    try:
        print(write_mechanism(args.root, args.out, plots=not args.no_plots))
    except ValueError as error:
        print(f"gatebench.report.mechanism: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
