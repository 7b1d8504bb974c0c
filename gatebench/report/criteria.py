"""Solved under two criteria, side by side, for regression tasks (adding, multiplication).

- `norm_mse`: today's rule, validation MSE <= `solved_norm_mse` x the trivial baseline
  (0.05: norm_loss <= 0.05) at some validation;
- `hs1997`: Hochreiter & Schmidhuber 1997 (exp. 4): *every* sequence of a held-out set within
  the tolerance (0.04), here every one of the `data.val_size` validation sequences
  (`val/tol_acc` = 1.0, computed over the whole set at once) at some validation. H&S used the
  2000 most recent training sequences.

Both are read from each run's validation curve, whichever rule stopped its training: a run
stopped by the first is often far from the second (the share within tolerance at that moment is
shown), so a study that claims H&S's criterion runs with `solved: hs1997`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd


def _params(text: object) -> dict:
    try:
        value = json.loads(str(text))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def criteria_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, length, variant) of regression runs: runs solved under the rule that
    stopped training (`status`), under `norm_mse` and under `hs1997` at any validation, and the
    median share of validation sequences within tolerance at each run's last validation."""
    rows = []
    regression = runs[runs["task_params"].map(lambda t: "tolerance" in _params(t))]
    if regression.empty:
        return pd.DataFrame()
    val = curves[curves["metric"].isin(["val/tol_acc", "val/norm_loss"])]
    by_source = {s: g for s, g in val.groupby("source")}
    for (task, length, variant), group in regression.groupby(["task", "length", "variant"],
                                                             sort=True):  # fmt: skip
        norm_ok = hs_ok = 0
        shares = []
        for run in group.itertuples():
            params = _params(run.task_params)
            threshold = params.get("solved_norm_mse") or 0.05
            curve = by_source.get(run.source, pd.DataFrame(columns=["metric", "value", "step"]))
            norm = curve[curve["metric"] == "val/norm_loss"]["value"].to_numpy(float)
            tol = curve[curve["metric"] == "val/tol_acc"].sort_values("step")["value"]
            norm_ok += bool(norm.size and (norm <= threshold).any())
            hs_ok += bool(tol.size and (tol.to_numpy(float) >= 1.0).any())
            if tol.size:
                shares.append(float(tol.iloc[-1]))
        config = group.get("config.data.val_size")
        val_size = int(config.dropna().iloc[0]) if config is not None and config.notna().any() \
            else None
        rows.append({
            "task": task, "length": int(length), "variant": variant, "runs": len(group),
            "solved (rule in force)": int((group["status"] == "solved").sum()),
            "solved norm_mse": norm_ok, "solved hs1997": hs_ok,
            "val sequences": val_size,
            "within tol at last val (median)": float(np.median(shares)) if shares else math.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def criterion_in_force(runs: pd.DataFrame) -> str:
    """What `solved` means in the tables of these runs (read from their task parameters)."""
    kinds = set()
    for text in runs["task_params"].dropna().unique():
        params = _params(text)
        if "tolerance" not in params:
            kinds.add("the task's own rule (e.g. recall accuracy >= 0.99 on copy)")
        elif params.get("solved_tol_acc") is not None and params.get("solved_norm_mse") is None:
            kinds.add("hs1997 (every validation sequence within the tolerance, H&S 1997)")
        elif params.get("solved_tol_acc") is not None:
            kinds.add("norm_mse and a share within tolerance")
        else:
            kinds.add(f"norm_mse (validation MSE <= {params.get('solved_norm_mse')} x baseline)")
    return "; ".join(sorted(kinds))


def criteria_markdown(table: pd.DataFrame, in_force: str) -> str:
    """The section: which criterion the tables use, and both criteria per row."""
    lines = [
        "## Solved: which criterion\n",
        f"The tables' `solved` is the rule the runs trained under: {in_force}.\n",
    ]
    if table.empty:
        return "\n".join(lines) + "\n"
    lines.append(
        "For regression tasks, both criteria at any validation, read from each run's curve: "
        "`norm_mse` (validation MSE <= 0.05 x the trivial baseline) and `hs1997` (Hochreiter & "
        "Schmidhuber 1997: every one of the validation sequences within the tolerance 0.04; "
        "they used the 2000 most recent training sequences). A run stopped by `norm_mse` is "
        "rarely solved under `hs1997`: `within tol at last val` is the share of validation "
        "sequences within the tolerance when it stopped. Evaluation seeds only.\n"
    )
    lines.append(table.to_markdown(index=False, floatfmt=".3g") + "\n")
    return "\n".join(lines) + "\n"
