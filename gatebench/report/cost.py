"""What each cell cost in the study: parameters, time per training step, time per run.

Per (task, T, variant) of the tables' runs: the whole model's trainable parameters, the median
time of one training step (1000 / the median of the run's logged `train/steps_per_sec`, which
excludes validation; median over runs), and the median and summed `wall_time_s` of a run
(fit + validation + test, every process of a resumed run). Steps to solve are in the tables
(Kaplan-Meier median). Times are measured wherever the runs ran, alongside whatever else ran
there: compare them within one study, and use `python -m devtools.speed` for speed itself.

Reads the runs frame and the long curves only (pandas).
"""

from __future__ import annotations

import math

import pandas as pd

KEYS = ["task", "length", "variant"]
SPEED_METRIC = "train/steps_per_sec"


def _median(values: pd.Series) -> float:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(finite.median()) if not finite.empty else math.nan


def cost_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, T, variant): `params`, `runs`, `ms_per_step`, `run_s_median`,
    `run_s_total`."""
    if runs.empty:
        return pd.DataFrame()
    speed = curves[curves["metric"] == SPEED_METRIC] if not curves.empty else curves
    per_run = speed.groupby("source")["value"].median() if not speed.empty else pd.Series()
    rows = []
    for (task, length, variant), group in runs.groupby(KEYS, sort=True, dropna=False):
        rates = per_run.reindex(group["source"]).dropna()
        rates = rates[rates > 0]
        rows.append(
            {
                "task": task, "length": length, "variant": variant, "runs": len(group),
                "params": _median(group["params"]),
                "ms_per_step": float((1000.0 / rates).median()) if not rates.empty else math.nan,
                "run_s_median": _median(group["wall_time_s"]),
                "run_s_total": float(pd.to_numeric(group["wall_time_s"]).sum()),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def cost_markdown(table: pd.DataFrame) -> str:
    """The report's "Cost" section."""
    if table.empty:
        return ""

    def text(value: float, digits: str = ".3g") -> str:
        return format(value, digits) if math.isfinite(value) else "-"

    shown = pd.DataFrame(
        {
            "task": table["task"],
            "T": table["length"],
            "variant": table["variant"],
            "params": [text(v, ".0f") for v in table["params"]],
            "ms / training step (median)": [text(v) for v in table["ms_per_step"]],
            "s / run (median)": [text(v) for v in table["run_s_median"]],
            "s, all runs": [text(v, ".0f") for v in table["run_s_total"]],
        }
    )
    return "\n".join(
        [
            "## Cost\n",
            "Per row: the whole model's trainable parameters; the median time of one training "
            "step (from each run's logged `train/steps_per_sec`, validation excluded); the "
            "median and summed wall time of a run (fit, validation and test). Runs stop when "
            "solved, so a cell that solves early costs less per run. Times were measured on the "
            "machine the runs shared with each other and with other work: compare them within "
            "this report only (`python -m devtools.speed` measures speed in isolation).\n",
            shown.to_markdown(index=False) + "\n",
        ]
    )


__all__ = ["cost_markdown", "cost_table"]
