"""The study's report (`<study dir>/report/report.md` and its CSV files and plots).

Order: the pre-registered primary family first (exact tests, Holm over that family only), the
design, then the exploratory tables of the *evaluation seeds only* (their own Holm family), the
budget, the solved criteria, the across-task comparison; the tuning runs appear only in the
selection, robustness and sensitivity sections. Built from `gatebench.report`'s pieces.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from gatebench.report.criteria import criteria_markdown, criteria_table, criterion_in_force
from gatebench.report.primary import budget_text, compare, primary_family, primary_markdown
from gatebench.report.profiles import improvement_markdown, improvement_table, profile_plot
from gatebench.report.ranking import overall_ranking
from gatebench.report.records import RunRecords
from gatebench.report.robustness import robustness_markdown, robustness_plots, robustness_table
from gatebench.report.selection import selection_markdown
from gatebench.report.sensitivity import sensitivity_markdown, sensitivity_table
from gatebench.report.tables import problem_runs, summarize
from gatebench.report.writer import family_section, markdown_tables, ranking_section
from gatebench.study.plan import Resolved
from gatebench.study.select import Choice
from gatebench.study.spec import Spec

EDGE = "edge: extend the grid"


def _arm(runs: pd.DataFrame, label: str, task_name: str, length: int) -> pd.DataFrame:
    return runs[(runs["variant"] == label) & (runs["task"] == task_name)
                & (pd.to_numeric(runs["length"]) == length)]  # fmt: skip


def primary_rows(spec: Spec, evaluation: pd.DataFrame,
                 resolved: dict[tuple[str, str], Resolved]) -> list[dict[str, Any]]:  # fmt: skip
    """The primary family's rows with Holm over the family."""
    rows = []
    for c in spec.primary:
        a, b = resolved[(c.cell, c.task)], resolved[(c.against, c.task)]
        arm_a = _arm(evaluation, a.label, a.task_name, c.length)
        arm_b = _arm(evaluation, b.label, b.task_name, c.length)
        if arm_a.empty or arm_b.empty:
            row = {"comparison": c.text, "compared": c.endpoint, "n": "0", "mean_a": None,
                   "mean_b": None, "diff": None, "solved_a": "-", "solved_b": "-",
                   "p_permutation": float("nan"), "permutation": "none",
                   "p_boschloo": float("nan"), "p_welch": float("nan"), "bimodal": False,
                   "budget": "no runs", "p": float("nan"), "test": "-"}  # fmt: skip
        else:
            row = {"comparison": c.text, **compare(arm_a, arm_b, c.endpoint)}
        rows.append(row)
    return primary_family(rows)


def _design(spec: Spec, grid: dict[str, list[Any]], choice: Choice) -> str:
    cells = ", ".join(f"`{c.name}`" + (f" ({' '.join(c.overrides)})" if c.overrides else "")
                      for c in spec.cells)  # fmt: skip
    tasks = "; ".join(f"{t}: T = {', '.join(map(str, n))}" for t, n in spec.tasks.items())
    grid_text = "; ".join(f"`{k}` in {v}" for k, v in grid.items())
    extra = [k for k in grid if len(grid[k]) != len(spec.grid[k])]
    plateau = "off" if spec.plateau is None else (
        f"patience {spec.plateau['patience']} validations, min_delta {spec.plateau['min_delta']}")
    lines = [
        "## Design (stated in the spec before the runs)\n",
        f"- Cells: {cells}. Tasks: {tasks} (a cell may run a subset: see the tables).",
        f"- Tuning grid: {grid_text}"
        + (f" (extended at the edges for every cell alike: {', '.join(extra)})" if extra else "")
        + ".",
        f"- Tuning seeds {list(spec.tuning_seeds)}; evaluation seeds "
        f"{list(spec.evaluation_seeds)} (disjoint): the setting is selected on the tuning seeds' "
        "validation metric, and every table below holds the evaluation seeds only.",
        f"- Step budget {spec.max_steps} steps for every run; plateau rule {plateau}.",
        f"- Selection rule `{spec.selection}`: per (cell, task, T) the setting with "
        + ("the best median final validation metric over the tuning seeds "
           "(gatebench.report.selection)." if spec.selection == "val_median" else
           "the smallest median steps to solve over the tuning seeds (unsolved = the budget; "
           "ties: the validation metric)."),
        f"- Solved criterion: `{spec.solved}`.",
        f"- Selections on a grid edge: {len(choice.edges)} of {len(choice.setting)}.",
    ]
    return "\n".join(lines) + "\n\n"


def _selected_text(spec: Spec, choice: Choice, resolved: dict) -> pd.DataFrame:
    rows = []
    for (cell, task, length), setting in choice.setting.items():
        r = resolved[(cell, task)]
        text = ", ".join(f"{k}={v}" for k, v in setting)
        if (cell, task, length) in choice.edges:
            text += f" ({EDGE})"
        rows.append({"task": r.task_name, "length": length, "variant": r.label,
                     "selected": text})  # fmt: skip
    return pd.DataFrame(rows)


def _budget_section(summary: pd.DataFrame, evaluation: pd.DataFrame) -> str:
    notes = []
    for row in summary.itertuples():
        if row.variant == row.reference:
            continue
        mine = _arm(evaluation, row.variant, row.task, int(row.length))
        ref = _arm(evaluation, row.reference, row.task, int(row.length))
        text = budget_text(mine, ref)
        if text.startswith("unequal"):
            notes.append(f"{row.task}, T = {int(row.length)}: {row.variant} vs {row.reference}: "
                         f"{text}")  # fmt: skip
    lines = ["## Budget fairness\n"]
    if notes:
        lines.append("**Unequal budgets** (one arm stopped early by the plateau rule, the other "
                     "ran to max_steps); these comparisons are not like for like:\n")  # fmt: skip
        lines += [f"- {n}" for n in notes]
    else:
        lines.append("Every compared pair ran under the same stopping rules: no arm was stopped "
                     "by the plateau rule while the other ran to max_steps.")  # fmt: skip
    return "\n".join(lines) + "\n\n"


def _exploratory_family(summary: pd.DataFrame) -> str:
    """The report's family section, retitled: the tables' comparisons are their own family."""
    text = family_section(summary)
    text = text.replace("## Multiple comparisons", "## Multiple comparisons (exploratory family)")
    text = text.replace("over **every comparison in this report: m =",
                        "over **every exploratory comparison of the tables above: m =")
    return text.replace("`--family table` corrects within each table and test instead.",
                        "The primary family (first section) is corrected on its own.")


def write_study_report(spec: Spec, records: RunRecords, tuning: pd.DataFrame,
                       evaluation: pd.DataFrame, choice: Choice, grid: dict[str, list[Any]],
                       resolved: dict[tuple[str, str], Resolved], command: str,
                       plots: bool = True, expected: int | None = None) -> Path:  # fmt: skip
    """Write the report into `<dir>/report/`; returns report.md's path."""
    import warnings

    with warnings.catch_warnings():  # medians of all-NaN columns (e.g. no chance level)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return _write(spec, records, tuning, evaluation, choice, grid, resolved, command, plots,
                      expected)  # fmt: skip


def _write(spec: Spec, records: RunRecords, tuning: pd.DataFrame, evaluation: pd.DataFrame,
           choice: Choice, grid: dict[str, list[Any]], resolved: dict[tuple[str, str], Resolved],
           command: str, plots: bool, expected: int | None) -> Path:  # fmt: skip
    out = spec.dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    reference = spec.cell(spec.reference or spec.cells[0].name)
    ref_label = next(r.label for (c, _), r in resolved.items() if c == reference.name)
    primary = primary_rows(spec, evaluation, resolved)
    pd.DataFrame(primary).to_csv(out / "primary.csv", index=False)
    summary = summarize(evaluation, reference=ref_label, family="study")
    selected = _selected_text(spec, choice, resolved)
    if not summary.empty and not selected.empty:
        summary = summary.merge(selected, on=["task", "length", "variant"], how="left")
    summary.to_csv(out / "summary.csv", index=False)
    runs = pd.concat([tuning.assign(role="tuning"), evaluation.assign(role="evaluation")],
                     ignore_index=True)  # fmt: skip
    runs.to_csv(out / "runs.csv", index=False)
    seeds = ", ".join(map(str, spec.evaluation_seeds))
    title = spec.title or f"Study {spec.name}"
    made = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [
        f"# {title}\n",
        f"Made by `{command}` on {made}: {len(evaluation)} evaluation run(s) (seeds {seeds}) "
        f"and {len(tuning)} tuning run(s) (seeds {', '.join(map(str, spec.tuning_seeds))}).\n",
        f"{spec.note.strip()}\n" if spec.note else "",
        (f"**Incomplete: {expected - len(evaluation)} of {expected} evaluation runs have no "
         "record yet; re-run the study to finish it.**\n")
        if expected is not None and len(evaluation) < expected else "",
        primary_markdown(primary),
        _design(spec, grid, choice),
        "## Exploratory tables (evaluation seeds only)\n",
        f"Every row holds the runs of evaluation seeds {seeds} at the setting selected on the "
        f"tuning seeds; no tuning run enters a table. Tests against `{ref_label}`. These "
        "comparisons are exploratory: Holm's correction runs over their own family (below), "
        f"separate from the primary family. A selection on a grid edge says `{EDGE}`.\n",
        markdown_tables(summary) if not summary.empty else "No evaluation runs yet.\n",
        _exploratory_family(summary),
        _budget_section(summary, evaluation) if not summary.empty else "",
    ]
    in_force = "; ".join(f"**{task}**: {criterion_in_force(group)}"
                         for task, group in evaluation.groupby("task")) or "-"
    criteria = criteria_table(evaluation, records.curves) if not evaluation.empty \
        else pd.DataFrame()
    if not criteria.empty:
        criteria.to_csv(out / "criteria.csv", index=False)
    parts.append(criteria_markdown(criteria, in_force))
    if not summary.empty:
        ranking = overall_ranking(summary, evaluation)
        ranking.to_csv(out / "ranking.csv", index=False)
        parts.append(ranking_section(ranking))
        improvement = improvement_table(evaluation)
        improvement.to_csv(out / "improvement.csv", index=False)
        parts.append(improvement_markdown(improvement, profile_plot(evaluation, out)
                                          if plots else []))  # fmt: skip
    if plots and not summary.empty:
        from gatebench.report.plots import write_plots

        curves = records.curves[records.curves["source"].isin(set(evaluation["source"]))]
        pngs = [p for p in write_plots(summary, evaluation, curves, out) if p.suffix == ".png"]
        if pngs:
            parts.append("## Plots (evaluation seeds)\n\n"
                         + "\n".join(f"![{p.stem}]({p.name})\n" for p in pngs))  # fmt: skip
    parts.append("# Tuning runs\n\nThe sections below read the tuning runs (seeds "
                 f"{', '.join(map(str, spec.tuning_seeds))}) only.\n")  # fmt: skip
    if choice.selection is not None:
        parts.append(selection_markdown(choice.selection))
    elif getattr(choice, "table", None) is not None:  # a Choice made before the rule existed
        parts.append(
            "## Hyperparameter selection\n\nRule `steps_median`: per (task, T, cell) the setting "
            "whose tuning runs solve soonest (median steps to solve, an unsolved run counted at "
            "the step budget), ties broken by the median final validation metric. Every cell was "
            "given the same grid.\n\n" + choice.table.to_markdown(index=False) + "\n")
    if choice.edges:
        parts.append("Selections on a grid edge (" + EDGE + "):\n\n" + "\n".join(
            f"- {c}, {t}, T = {n}: {', '.join(e)}" for (c, t, n), e in sorted(choice.edges.items())
        ) + "\n\n" + ("`extend_edges: true` added the next point beyond each edge for every cell "
                      "alike (once)." if spec.extend_edges else
                      "Set `extend_edges: true` to add the next grid point beyond each edge for "
                      "every cell alike.") + "\n")  # fmt: skip
    keys = [f"config.{k}" for k, v in grid.items() if len(v) > 1]
    robust = robustness_table(tuning, keys)
    robust.to_csv(out / "robustness.csv", index=False)
    parts.append(robustness_markdown(robust, robustness_plots(tuning, keys, out)
                                     if plots else []))  # fmt: skip
    sensitivity = sensitivity_table(tuning, keys) if keys and not tuning.empty else pd.DataFrame()
    if not sensitivity.empty:
        parts.append(sensitivity_markdown(sensitivity, []))
    problems = problem_runs(runs) if not runs.empty else pd.DataFrame()
    parts.append("## Runs that did not complete\n\n" + (
        "None.\n" if problems.empty else problems.to_markdown(index=False) + "\n"))
    text = "\n".join(p for p in parts if p)
    path = out / "report.md"
    path.write_text(text)
    return path
