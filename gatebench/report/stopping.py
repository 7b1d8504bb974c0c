"""How the runs ended, and whether the step budget cut runs that were still learning.

A comparison at a fixed step budget measures "solved within N steps", not "cannot solve": a run
stopped at `trainer.max_steps` whose validation loss was still falling was cut by the budget.
Per (task, T, variant) this counts the runs that were solved, stopped by the plateau rule
(`plateau.patience`, see `gatebench/training/plateau.py`), or reached `max_steps`; of the
latter, how many were *still improving*: their `val/norm_loss` fell by more than `min_delta`
over their last `window` steps (the plateau rule's window, `patience x val_check_interval`,
where it was on; else the last quarter of the budget).

Reads the runs frame and the long curves only (pandas).
"""

from __future__ import annotations

import math

import pandas as pd

KEYS = ["task", "length", "variant"]
DEFAULT_MIN_DELTA = 0.01
ENDINGS = ("solved", "plateau", "max_steps")


def _config(row: pd.Series, key: str) -> float | None:
    value = row.get(f"config.{key}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def stopped_by(row: pd.Series) -> str:
    """The record's `stopped_by`; for records written before it existed, inferred from the
    status, the solved step and the step budget (`other`: diverged, failed or unknown)."""
    recorded = row.get("stopped_by")
    if isinstance(recorded, str) and recorded:
        return recorded
    if row.get("status") not in ("solved", "finished"):
        return "other"
    if row.get("status") == "solved" or pd.notna(row.get("steps_to_solve")):
        return "solved"
    budget = _config(row, "trainer.max_steps")
    steps = row.get("steps")
    if budget is not None and steps is not None and pd.notna(steps) and steps >= budget:
        return "max_steps"
    return "other"


def window_and_delta(row: pd.Series) -> tuple[int | None, float]:
    """The window (steps) over which "still improving" is judged, and the improvement that
    counts (`plateau.min_delta`, else 0.01)."""
    patience = _config(row, "plateau.patience")
    interval = _config(row, "trainer.val_check_interval")
    budget = _config(row, "trainer.max_steps")
    delta = _config(row, "plateau.min_delta")
    delta = DEFAULT_MIN_DELTA if delta is None else delta
    if patience is not None and interval is not None:
        return int(patience * interval), delta
    return (int(budget // 4) if budget else None), delta


def last_drop(curve: pd.DataFrame, window: int) -> float:
    """`val/norm_loss` at (last step - window) minus at the last step (NaN if not logged)."""
    curve = curve.sort_values("step")
    if curve.empty:
        return math.nan
    last = curve.iloc[-1]
    earlier = curve[curve["step"] <= last["step"] - window]
    if earlier.empty:
        return math.nan
    return float(earlier.iloc[-1]["value"] - last["value"])


def stopping_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, T, variant): runs, solved, plateau, max_steps, other, and of the
    max_steps runs `still_improving` (with `median_drop`, the median fall of val/norm_loss over
    their last `window` steps)."""
    if runs.empty:
        return pd.DataFrame()
    val = curves[curves["metric"] == "val/norm_loss"] if not curves.empty else curves
    by_source = dict(tuple(val.groupby("source"))) if not val.empty else {}
    rows = []
    for (task, length, variant), group in runs.groupby(KEYS, sort=True, dropna=False):
        endings = group.apply(stopped_by, axis=1)
        drops, improving, windows, deltas = [], 0, set(), set()
        for (_, row), ending in zip(group.iterrows(), endings, strict=True):
            if ending != "max_steps":
                continue
            window, delta = window_and_delta(row)
            windows.add(window)
            deltas.add(delta)
            curve = by_source.get(row["source"])
            drop = last_drop(curve, window) if curve is not None and window else math.nan
            drops.append(drop)
            improving += int(math.isfinite(drop) and drop > delta)
        finite = [d for d in drops if math.isfinite(d)]
        rows.append(
            {
                "task": task, "length": length, "variant": variant, "runs": len(group),
                **{e: int((endings == e).sum()) for e in (*ENDINGS, "other")},
                "still_improving": improving,
                "median_drop": float(pd.Series(finite).median()) if finite else math.nan,
                "window": min(windows) if len(windows) == 1 else None,
                "min_delta": min(deltas) if len(deltas) == 1 else None,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def stopping_markdown(table: pd.DataFrame) -> str:
    """The report's "How runs ended" section (empty when no run reached its step budget)."""
    if table.empty or not (table["max_steps"] > 0).any():
        return ""
    shown = table.assign(
        **{
            "max_steps: still improving": [
                f"{i}/{m}" if m else "-"
                for i, m in zip(table["still_improving"], table["max_steps"], strict=True)
            ],
            "median fall of val/norm_loss over the window": [
                f"{d:.3g}" if math.isfinite(d) else "-" for d in table["median_drop"]
            ],
        }
    ).rename(columns={"length": "T"})
    columns = ["task", "T", "variant", "runs", *ENDINGS, "other", "max_steps: still improving",
               "median fall of val/norm_loss over the window"]  # fmt: skip
    windows = sorted({int(w) for w in table["window"].dropna()})
    deltas = sorted({float(d) for d in table["min_delta"].dropna()})
    flagged = int(table["still_improving"].sum())
    return "\n".join(
        [
            "## How runs ended\n",
            "Each run (of the tables' settings) stopped because it was solved, because the "
            "plateau rule saw no improvement of val/norm_loss, or at the step budget "
            "(`max_steps`). A `max_steps` run whose val/norm_loss still fell by more than "
            f"{', '.join(f'{d:g}' for d in deltas) or '-'} over its last "
            f"{', '.join(str(w) for w in windows) or '-'} steps was cut by the budget while "
            "learning: for it the tables measure *not solved within the budget*, not *cannot "
            f"solve*. Such runs here: {flagged}.\n",
            shown[columns].to_markdown(index=False) + "\n",
        ]
    )


__all__ = ["last_drop", "stopped_by", "stopping_markdown", "stopping_table", "window_and_delta"]
