"""The fair-comparison sections of a report: selection, sensitivity, importance, length
generalisation and parameter matching (issue 14). `write_report` calls `fair_sections`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gatebench.report.generalisation import (
    generalisation_markdown,
    generalisation_plots,
    generalisation_table,
)
from gatebench.report.importance import importance_markdown, importance_table
from gatebench.report.selection import Selection, selection_markdown
from gatebench.report.sensitivity import (
    sensitivity_markdown,
    sensitivity_plots,
    sensitivity_table,
)


def parameter_notes(runs: pd.DataFrame) -> list[str]:
    """Per (task, T): whether the variants compared have matched parameter counts.

    Matched: every run of the table was built for the same `model.param_budget` (each cell at
    the hidden size closest to it). Otherwise, differing counts are named.
    """
    notes = []
    if "params" not in runs.columns or runs.empty:
        return notes
    budgets = runs["param_budget"] if "param_budget" in runs.columns else pd.Series(
        [None] * len(runs), index=runs.index
    )
    runs = runs.assign(_budget=budgets)
    for (task, length), table in runs.groupby(["task", "length"], sort=True):
        counts = table.groupby("variant")["params"].median().dropna()
        if counts.empty:
            continue
        values = set(table["_budget"].dropna())
        spread = f"{int(counts.min())}-{int(counts.max())}"
        if table["_budget"].notna().all() and len(values) == 1:
            notes.append(
                f"{task}, T = {length}: parameter-matched to model.param_budget="
                f"{int(values.pop())} (whole model, encoder and readout included: {spread})"
            )
        elif counts.max() != counts.min():
            shown = ", ".join(f"{v} {int(c)}" for v, c in counts.items())
            ratio = counts.max() / counts.min()
            if table["_budget"].notna().all():  # e.g. the budget was a selection axis
                chosen = table.groupby("variant")["_budget"].first()
                why = "different model.param_budget values: " + ", ".join(
                    f"{v} {int(b)}" for v, b in chosen.items()
                )
            else:
                why = "`model.param_budget=N` matches them"
            notes.append(
                f"{task}, T = {length}: compares unmatched parameter counts ({shown}; "
                f"{ratio:.1f}x); {why}"
            )
    return notes


def fair_sections(
    all_runs: pd.DataFrame, selection: Selection, out: Path, plots: bool = True
) -> tuple[str, list[Path]]:
    """Markdown of the fair-comparison sections and the plot files written into `out`."""
    keys = [*selection.axes, *selection.split]
    parts, files = [selection_markdown(selection)], []
    sensitivity = sensitivity_table(all_runs, keys) if keys else pd.DataFrame()
    if not sensitivity.empty:
        sens_files = sensitivity_plots(sensitivity, out) if plots else []
        sensitivity.to_csv(out / "sensitivity.csv", index=False)
        files += [out / "sensitivity.csv", *sens_files]
        parts.append(sensitivity_markdown(sensitivity, sens_files))
    importance = importance_table(all_runs, keys) if len(keys) >= 2 else pd.DataFrame()
    if not importance.empty:
        importance.to_csv(out / "importance.csv", index=False)
        files.append(out / "importance.csv")
    parts.append(importance_markdown(importance, keys))
    lengths = generalisation_table(selection.runs)
    if not lengths.empty:
        length_files = generalisation_plots(lengths, out) if plots else []
        lengths.to_csv(out / "length_generalisation.csv", index=False)
        files += [out / "length_generalisation.csv", *length_files]
        parts.append(generalisation_markdown(lengths, length_files))
    notes = parameter_notes(selection.runs)
    if notes:
        parts.append("## Parameter counts\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    text = "\n".join(p for p in parts if p)
    return text, files


__all__ = ["fair_sections", "parameter_notes"]
