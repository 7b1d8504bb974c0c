"""Select each (cell, task, length)'s setting on its tuning runs, flag grid edges, extend them.

The rule is the report's (`gatebench.report.selection.select`, `val`): the setting with the best
median final *validation* metric over the tuning seeds; the test set and the evaluation seeds are
never read. A selection at the lowest or highest value of a numeric grid key is on an edge: the
best setting may lie outside the grid. With `extend_edges: true` the grid gains the next point
beyond every edge some selection reached (geometric for positive values: 0.001, 0.003, 0.01 ->
0.03), for every cell, task and length alike, so every cell keeps the same budget; once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatebench.report.selection import Selection, _value_text, select
from gatebench.study.plan import Job, Resolved, job_dir
from gatebench.study.spec import Spec

Key = tuple[str, str, int]  # (cell, task preset, length)


@dataclass
class Choice:
    """The selected setting per (cell, task, length), its edges, and the report's Selection."""

    setting: dict[Key, tuple[tuple[str, Any], ...]]
    edges: dict[Key, list[str]] = field(default_factory=dict)
    selection: Selection | None = None  # the val_median rule's (gatebench.report.selection)
    table: pd.DataFrame | None = None  # the steps_median rule's choices


def runs_of(runs: pd.DataFrame, spec: Spec, jobs: list[Job],
            resolved: dict[tuple[str, str], Resolved]) -> pd.DataFrame:  # fmt: skip
    """The rows of `runs` that are these jobs (matched by run directory)."""
    wanted = {str(job_dir(spec, j, resolved[(j.cell, j.task)]).resolve()) for j in jobs}
    if runs.empty:
        return runs
    sources = runs["source"].map(lambda s: str(Path(s).resolve()))
    return runs[sources.isin(wanted)].reset_index(drop=True)


def _grid_value(spec_values: list[Any], recorded: Any) -> Any:
    text = _value_text(recorded)
    for value in spec_values:
        if _value_text(value) == text:
            return value
    raise ValueError(f"a tuning run has {recorded!r}, not a value of the grid {spec_values!r}")


def choose(spec: Spec, grid: dict[str, list[Any]], tuning: pd.DataFrame,
           resolved: dict[tuple[str, str], Resolved]) -> Choice:  # fmt: skip
    """Each (cell, task, length)'s setting from its tuning runs (the report's rule)."""
    axes = [f"config.{k}" for k, v in grid.items() if len(v) > 1]
    table = None
    if spec.selection == "steps_median" and axes:
        selection = None
        chosen_runs, table = fastest(tuning, axes)
    else:
        selection = select(tuning, mode="val", over=axes) if axes else None
        chosen_runs = selection.runs if selection is not None else tuning
    back = {(r.label, r.task_name): (cell, task) for (cell, task), r in resolved.items()}
    setting: dict[Key, tuple[tuple[str, Any], ...]] = {}
    for (variant, task_name, length), group in chosen_runs.groupby(
        [chosen_runs.get("variant_base", chosen_runs["variant"]), "task", "length"]
    ):
        cell, task = back[(str(variant), str(task_name))]
        row = group.iloc[0]
        setting[(cell, task, int(length))] = tuple(
            (k, _grid_value(v, row.get(f"config.{k}")) if len(v) > 1 else v[0])
            for k, v in grid.items()
        )
    edges = {key: grid_edges(grid, chosen) for key, chosen in setting.items()}
    return Choice(setting, {k: v for k, v in edges.items() if v}, selection, table)


def fastest(tuning: pd.DataFrame, axes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `steps_median` rule: per (task, length, cell) the setting whose tuning runs solve
    soonest (median steps to solve, an unsolved or diverged run counted at the step budget;
    failed runs left out), ties broken by the median final validation metric, then by the
    first setting in sorted order. Returns the chosen setting's runs and one row per group."""
    from gatebench.report.primary import capped_steps

    texts = tuning[axes].apply(lambda c: c.map(_value_text))
    keyed = tuning.assign(_setting=texts.apply(lambda r: ", ".join(
        f"{a.removeprefix('config.')}={v}" for a, v in zip(axes, r, strict=True)), axis=1))
    kept, rows = [], []
    for (task, length, variant), group in keyed.groupby(["task", "length", "variant"]):
        sign = -1.0 if str(group["metric_mode"].dropna().iloc[0]) == "max" else 1.0
        scores = {}
        for name, runs in group.groupby("_setting", sort=True):
            steps = capped_steps(runs)
            done = runs[runs["status"].isin(("solved", "finished"))]
            val = pd.to_numeric(done["final_metric"], errors="coerce").median()
            scores[name] = (float(np.median(steps)) if steps.size else math.inf,
                            sign * val if math.isfinite(val) else math.inf)
        best = min(sorted(scores), key=lambda n: scores[n])
        kept.append(group[group["_setting"] == best])
        rows.append({"task": task, "T": int(length), "variant": variant, "selected": best,
                     "median steps to solve (unsolved = budget)": scores[best][0],
                     "settings tried": len(scores)})  # fmt: skip
    chosen = pd.concat(kept, ignore_index=True).drop(columns="_setting")
    return chosen, pd.DataFrame(rows)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def grid_edges(grid: dict[str, list[Any]], chosen: tuple[tuple[str, Any], ...]) -> list[str]:
    """`optimizer.lr=0.01 (top)` for every numeric key (2+ values) chosen at its min or max."""
    out = []
    for key, value in chosen:
        values = grid[key]
        if len(values) < 2 or not _numeric(values):
            continue
        if value == max(values):
            out.append(f"{key}={_value_text(value)} (top)")
        elif value == min(values):
            out.append(f"{key}={_value_text(value)} (bottom)")
    return out


def _digits(value: float) -> int:
    """Significant digits of a grid value as written (0.003 -> 1, 0.0025 -> 2)."""
    return len(f"{value:.12g}".split("e")[0].replace("-", "").replace(".", "").strip("0")) or 1


def next_point(values: list[Any], upward: bool) -> Any:
    """The grid point beyond its top (`upward`) or bottom: geometric for positive values (the
    ratio of the last two points), else arithmetic; rounded to the grid's significant digits
    (0.001, 0.003, 0.01 -> 0.03 and 0.0003); integers stay integers."""
    ordered = sorted(values)
    a, b = (ordered[-2], ordered[-1]) if upward else (ordered[1], ordered[0])
    point = b * (b / a) if a > 0 and b > 0 else b + (b - a)
    if all(isinstance(v, int) for v in values):
        return int(round(point))
    digits = max(_digits(float(v)) for v in values)
    return float(f"{point:.{digits}g}")


def extended(grid: dict[str, list[Any]], choice: Choice) -> dict[str, list[Any]]:
    """The grid with the next point beyond every edge a selection reached (for every cell)."""
    out = {k: list(v) for k, v in grid.items()}
    for flags in choice.edges.values():
        for flag in flags:
            key = flag.split("=", 1)[0]
            point = next_point(grid[key], upward=flag.endswith("(top)"))
            if point not in out[key] and (not isinstance(point, float) or math.isfinite(point)):
                out[key].append(point)
    return {k: sorted(v) if _numeric(v) else v for k, v in out.items()}


def evaluation_jobs(spec: Spec, choice: Choice) -> list[Job]:
    return [Job(cell, task, length, setting, seed)
            for (cell, task, length), setting in sorted(choice.setting.items())
            for seed in spec.evaluation_seeds]  # fmt: skip
