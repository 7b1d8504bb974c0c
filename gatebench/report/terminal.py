"""What a sweep (and `python -m gatebench.report`) prints at its end: a narrow table per task and
length that fits 100 columns, the winner line, and where the report and its plots are.

The wide table (every statistic and p-value) stays in report.md; this is the glance.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from gatebench.report.family import TESTS
from gatebench.report.markdown import interval, num, winner_line
from gatebench.report.statistics import ALPHA

WIDTH = 100


SHORT = {"welch": "Welch", "mwu": "MWU", "solved": "Boschloo", "logrank": "log-rank"}


def _versus(row: pd.Series) -> str:
    """The difference of means to the reference and the smallest Holm-adjusted p of its tests
    (the report's family), naming the test: `+0.61 (p 0.0036* Welch)`."""
    if row["variant"] == row["reference"]:
        return "ref"
    diff = num(row.get("diff"), 2)
    if diff == "-":
        return "-"
    diff = diff if diff.startswith("-") else f"+{diff}"
    tests = []
    for test in TESTS:
        adjusted = row.get(f"p_{test}_holm")
        if num(adjusted) != "-":
            tests.append((float(adjusted), test))
    if not tests:
        return f"{diff} (no test)"
    p, test = min(tests)
    star = "*" if p < ALPHA else ""
    return f"{diff} (p {num(p, 2)}{star} {SHORT.get(test, test)})"


def narrow_table(table: pd.DataFrame) -> str:
    """One (task, length) of the summary as a plain-text table of five columns."""
    rows = []
    for _, row in table.iterrows():
        attempted = int(row["n_runs"] - row["n_failed"])
        rows.append({
            "variant": str(row["variant"])[:22],
            "solved": f"{row['n_solved']}/{attempted}",
            "mean [interval]": interval(row["mean"], row["ci_low"], row["ci_high"],
                                        str(row["ci_kind"]), digits=3),
            "norm_loss": num(row["norm_loss"], 3),
            f"vs {row['reference']}": _versus(row),
        })
    return tabulate(pd.DataFrame(rows), headers="keys", tablefmt="simple", showindex=False,
                    disable_numparse=True)


def _plain(markdown: str) -> str:
    return re.sub(r"\*\*|`", "", markdown)


def terminal_summary(summary: pd.DataFrame, files: Sequence[Path] = ()) -> str:
    """The narrow tables, each with its winner line, then the paths of report.md and plots."""
    parts = []
    for (task, length), table in summary.groupby(["task", "length"], sort=True):
        direction = "lower" if table["metric_mode"].iloc[0] == "min" else "higher"
        parts.append(
            f"{task}, T = {int(length)}: {table['metric'].iloc[0]} ({direction} is better), "
            f"trivial baseline loss {num(table['baseline'].median(), 3)} (norm_loss 1)"
        )
        parts.append(narrow_table(table))
        parts.append(textwrap.fill(_plain(winner_line(table)), WIDTH, break_on_hyphens=False)
                     + "\n")
    parts.append(textwrap.fill(
        "interval: bootstrap 95% (BCa) from 5 runs, else the min-max range. vs ref: difference "
        "of means to the reference; p: the smallest Holm-adjusted p of its tests (* < "
        f"{ALPHA}), named. Every statistic and test: report.md.", WIDTH, break_on_hyphens=False))
    paths = [Path(p) for p in files]
    report = next((p for p in paths if p.name == "report.md"), None)
    if report is not None:
        parts.append(f"report: {report}")
    plots = [p for p in paths if p.suffix == ".png"]
    if plots:
        parts.append(f"plots:  {plots[0].parent}/")
        names = ", ".join(p.name for p in plots)
        parts.append(textwrap.fill(names, WIDTH, initial_indent="  ", subsequent_indent="  "))
    return "\n".join(parts)
