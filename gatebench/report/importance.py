"""Hyperparameter importance by functional ANOVA (issue 14.3; Hutter, Hoos & Leyton-Brown 2014,
as used by Greff et al. 2017, "LSTM: A Search Space Odyssey", Sec. 5).

For each (task, length, variant) whose runs vary two or more swept hyperparameters, the runs
become trials of an in-memory Optuna study (`optuna.trial.create_trial`: params = the run's
values, value = its compared metric), and Optuna's `FanovaImportanceEvaluator` (a random forest
fitted by scikit-learn, then fANOVA's marginal variance decomposition) gives each
hyperparameter's share of the variance of the metric explained by main effects: Optuna
normalises the main effects to sum to 1, so interactions are not shown; where the metric does
not vary at all there is no variance to share and the shares are NaN. Diverged or failed runs
have no metric and are not trials (they are counted). Numeric keys whose positive values span
a factor >= 10 are given a log-scale distribution (as learning rates are swept).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gatebench.report.selection import short
from gatebench.report.sensitivity import compared_values

COLUMNS = ["task", "length", "variant", "key", "importance", "metric", "n_trials", "n_left_out"]


def _distribution(values: pd.Series) -> tuple[Any, list[Any]]:
    """The Optuna distribution of one key and each run's value in it."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        numbers = numeric.to_numpy(dtype=float)
        low, high = float(numbers.min()), float(numbers.max())
        log = low > 0 and high / low >= 10
        if np.all(numbers == np.round(numbers)) and not log:
            return IntDistribution(int(low), int(high)), [int(v) for v in numbers]
        return FloatDistribution(low, high, log=log), [float(v) for v in numbers]
    texts = values.astype(str)
    return CategoricalDistribution(sorted(set(texts))), list(texts)


def fanova_importances(
    frame: pd.DataFrame, keys: list[str], value: str, seed: int = 0, n_trees: int = 64
) -> dict[str, float]:
    """`{key: share}` by fANOVA over the rows of `frame` (one trial each; `value` the metric).

    Keys are config columns; rows with a non-finite `value` must be removed by the caller.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions, columns = {}, {}
    for key in keys:
        distributions[short(key)], columns[short(key)] = _distribution(frame[key])
    trials = [
        optuna.trial.create_trial(
            params={name: columns[name][i] for name in distributions},
            distributions=distributions,
            value=float(v),
        )
        for i, v in enumerate(frame[value])
    ]
    study = optuna.create_study()  # in memory; the direction does not change variances
    study.add_trials(trials)
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def importance_table(runs: pd.DataFrame, keys: list[str], seed: int = 0) -> pd.DataFrame:
    """One row per (task, length, variant, key) where two or more keys vary."""
    rows = []
    base = runs.get("variant_base", runs["variant"])
    runs = runs.assign(variant=base)
    for (task, length), table in runs.groupby(["task", "length"], sort=True):
        metric, values = compared_values(table)
        completed = table["status"].isin(("solved", "finished"))
        table = table.assign(_value=values.where(completed))
        for variant, group in table.groupby("variant", sort=True):
            varying = [k for k in keys if group[k].astype(str).nunique() > 1]
            usable = group[np.isfinite(pd.to_numeric(group["_value"], errors="coerce"))]
            if len(varying) < 2 or len(usable) < 2:
                continue
            metric_values = pd.to_numeric(usable["_value"]).to_numpy(dtype=float)
            if np.ptp(metric_values) == 0:  # no variance to share out: shown as "-"
                shares = {}
            else:
                shares = fanova_importances(usable, varying, "_value", seed=seed)
            for key in varying:
                rows.append(
                    {
                        "task": task, "length": length, "variant": variant, "key": short(key),
                        "importance": float(shares.get(short(key), math.nan)),
                        "metric": metric, "n_trials": len(usable),
                        "n_left_out": len(group) - len(usable),
                    }
                )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def importance_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    """The report's importance section (or why there is none)."""
    if table.empty:
        if len(keys) < 2:
            return ""
        return (
            "## Hyperparameter importance\n\nNot computed: no variant has runs that vary two or "
            "more hyperparameters with at least two finite metric values.\n"
        )
    lines = [
        "## Hyperparameter importance (fANOVA)\n",
        "Share of the variance of the compared metric explained by each hyperparameter's main "
        "effect, per variant (functional ANOVA as in Greff et al. 2017; Optuna's "
        "`FanovaImportanceEvaluator`, 64 trees, seed 0; shares of the main effects, normalised "
        "to sum to 1). Runs without a finite metric are left out.\n",
    ]
    for (task, length), part in table.groupby(["task", "length"], sort=True):
        wide = part.pivot(index="variant", columns="key", values="importance")
        counts = part.groupby("variant")[["n_trials", "n_left_out"]].first()
        shown = wide.map(lambda v: f"{v:.2f}" if math.isfinite(v) else "-")
        shown["runs used (left out)"] = [
            f"{counts.loc[v, 'n_trials']} ({counts.loc[v, 'n_left_out']})" for v in shown.index
        ]
        lines.append(f"### {task}, T = {int(length)}: `{part['metric'].iloc[0]}`\n")
        lines.append(shown.reset_index().to_markdown(index=False) + "\n")
    return "\n".join(lines)
