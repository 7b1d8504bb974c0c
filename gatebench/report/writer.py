"""Write a report directory: report.md, runs.csv, summary.csv, summary.tex and the plots."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gatebench.report.records import RunRecords
from gatebench.report.tables import problem_runs, summarize

P_ALPHA = 0.05


@dataclass
class Report:
    """What `write_report` produced: the summary frame, the markdown text and the files."""

    summary: pd.DataFrame
    markdown: str
    files: list[Path]


def _num(value: object, digits: int = 3) -> str:
    """`0.00123` -> `0.00123`; NaN/None -> `-`."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(number):
        return "-"
    return f"{number:.{digits}g}"


def _p(value: object) -> str:
    """A p-value with a star when below 0.05."""
    text = _num(value, 2)
    try:
        return text + (" *" if float(value) < P_ALPHA else "")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return text


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The human-readable columns of a summary (strings), one row per variant."""
    rows = []
    for _, row in summary.iterrows():
        attempted = row["n_runs"] - row["n_failed"]
        rows.append(
            {
                "task": row["task"],
                "T": int(row["length"]),
                "variant": row["variant"],
                "runs": int(row["n_runs"]),
                "solved/finished/diverged/failed": (
                    f"{row['n_solved']}/{row['n_finished']}/{row['n_diverged']}/{row['n_failed']}"
                ),
                "metric": row["metric"],
                "mean [95% CI]": (
                    f"{_num(row['mean'])} [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"
                ),
                "norm_loss": _num(row["norm_loss"]),
                "solved rate": f"{_num(row['solved_rate'], 2)} ({row['n_solved']}/{attempted})",
                "median steps to solve": _num(row["median_steps_to_solve"], 6),
                "params": _num(row["params"], 9),
                "p Welch (Holm)": _p(row["p_welch_holm"]),
                "p MWU (Holm)": _p(row["p_mwu_holm"]),
            }
        )
    return pd.DataFrame(rows)


def markdown_tables(summary: pd.DataFrame) -> str:
    """Markdown: one section per (task, length) with its baseline line and variant table."""
    parts = []
    for (task, length), table in summary.groupby(["task", "length"], sort=True):
        metric = table["metric"].iloc[0]
        baseline = table["baseline"].median()
        reference = table["reference"].iloc[0]
        direction = "lower" if table["metric_mode"].iloc[0] == "min" else "higher"
        shown = display_table(table).drop(columns=["task", "T", "metric"])
        if "selected" in table.columns:  # the setting chosen on validation (report.selection)
            shown.insert(1, "selected on val", table["selected"].fillna("-").to_numpy())
        shown = shown.rename(columns={"mean [95% CI]": f"{metric} mean [95% CI]"})
        parts.append(f"### {task}, T = {int(length)}\n")
        if reference in set(table["variant"]):
            tests = (
                f"p-values: two-sided, vs `{reference}`, Holm-adjusted within this table "
                f"(* p < {P_ALPHA})."
            )
        else:
            tests = f"No tests: the reference variant `{reference}` has no runs here."
        parts.append(
            f"Trivial baseline: loss {_num(baseline, 4)} (norm_loss 1.0). Primary metric: "
            f"`{metric}` ({direction} is better). {tests}\n"
        )
        parts.append(shown.to_markdown(index=False) + "\n")
    return "\n".join(parts)


def _problem_section(records: RunRecords) -> str:
    problems = problem_runs(records.runs)
    lines = ["## Runs that did not complete\n"]
    if problems.empty:
        lines.append("None: every run finished or solved and recorded its final metric.\n")
    else:
        lines.append(
            f"{len(problems)} run(s) are counted in the tables but left out of the statistics:\n"
        )
        shown = problems.assign(message=problems["message"].fillna("").astype(str).str[:160])
        lines.append(shown.to_markdown(index=False) + "\n")
    if records.notes:
        lines.append("Also seen:\n")
        lines.extend(f"- {note}" for note in records.notes)
        lines.append("")
    return "\n".join(lines)


def _mixed_options_notes(runs: pd.DataFrame) -> list[str]:
    """Warn where one table row pools runs whose variant options or task parameters differ
    (e.g. copy with `loss_on=all` and `loss_on=recall` at the same length)."""
    notes = []
    keys = ["task", "length", "variant"]
    pooled = (("variant_options", "variant options"), ("task_params", "task parameters"))
    for column, what in pooled:
        if column not in runs.columns:
            continue
        for key, group in runs.groupby(keys, sort=True, dropna=False):
            options = group[column].dropna().unique()
            if len(options) > 1:
                notes.append(
                    f"{key[0]}, T = {key[1]}, {key[2]}: pools runs with different {what} "
                    f"({'; '.join(options[:3])})"
                )
    return notes


def _distinct(runs: pd.DataFrame, column: str) -> str:
    if column not in runs.columns:
        return "-"
    values = sorted({str(v) for v in runs[column].dropna()})
    return ", ".join(values[:4]) + (f" (+{len(values) - 4} more)" if len(values) > 4 else "")


def provenance(runs: pd.DataFrame) -> str:
    """Markdown lines: sweep wall time, summed run time, software versions, commit, machine."""
    summed = pd.to_numeric(runs.get("wall_time_s"), errors="coerce").sum()
    lines = [f"- Summed training time of the runs: {_num(summed / 60, 3)} min"]
    if {"started_at", "ended_at"} <= set(runs.columns):
        span = runs["ended_at"].max() - runs["started_at"].min()
        if math.isfinite(span):
            lines.append(
                f"- Sweep wall time (first job start to last record): {_num(span / 60, 3)} min"
            )
    versions = [c for c in runs.columns if c.startswith("versions.")]
    if versions:
        shown = "; ".join(f"{c.split('.', 1)[1]} {_distinct(runs, c)}" for c in versions)
        lines.append(f"- Software (from the records): {shown}")
    lines.append(f"- Git commit: {_distinct(runs, 'git_commit')}")
    cpus = os.cpu_count()
    lines.append(
        f"- Report written on: {platform.platform()}, {cpus} CPUs "
        f"({platform.processor() or platform.machine()})"
    )
    return "\n".join(lines) + "\n"


def render_markdown(
    records: RunRecords,
    summary: pd.DataFrame,
    title: str,
    command: str | None,
    plots: Sequence[Path],
    fair: str = "",
    table_runs: pd.DataFrame | None = None,
) -> str:
    """The whole report.md text; `fair` is the fair-comparison sections (report.fair) and
    `table_runs` the runs the tables pool (after selection; default: every run)."""
    runs = records.runs
    head = [f"# {title}\n"]
    if command:
        head.append(f"Command:\n\n```\n{command}\n```\n")
    made = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    head.append(f"Made by `python -m gatebench.report` on {made} from {len(runs)} run(s).\n")
    head.append(provenance(runs))
    head.append(
        "Each row is one variant over its seeds. The compared value is each run's primary "
        "metric, and `norm_loss` its loss / trivial baseline (1.0 = learned nothing, the best "
        "input-independent prediction), both on the held-out test set (`test/...`) of the final "
        "weights; on the last validation (`val/...`) where a run has no test result. A solved "
        "run stops at the validation where it first met the criterion, so validation values are "
        "selected on their own set; test values are not. The 95% CI is the t interval of the "
        "mean. Diverged and failed runs are counted but not in the statistics; the solved rate "
        "counts diverged runs as unsolved and leaves failed runs out.\n"
    )
    body = ["## Tables\n", markdown_tables(summary), fair, _problem_section(records)]
    notes = _mixed_options_notes(runs if table_runs is None else table_runs)
    if notes:
        body.append("## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    pngs = [p for p in plots if p.suffix == ".png"]
    if pngs:
        body.append("## Plots\n")
        body.extend(f"![{p.stem}]({p.name})\n" for p in pngs)
    return "\n".join(head + body)


def write_report(
    records: RunRecords,
    out_dir: str | Path,
    reference: str = "lstm",
    title: str | None = None,
    command: str | None = None,
    plots: bool = True,
    select: str = "val",
    select_over: Sequence[str] | None = None,
) -> Report:
    """Write report.md, runs.csv, summary.csv, summary.tex (and PNG/SVG plots) into out_dir.

    Runs that differ in a swept config value are never pooled: `select="val"` keeps each
    variant's setting chosen on validation (over `select_over`, default every swept key),
    `select="none"` makes each setting its own row (`gatebench.report.selection`).
    """
    from gatebench.report.fair import fair_sections
    from gatebench.report.selection import select as select_settings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    selection = select_settings(records.runs, select, list(select_over or []))
    summary = summarize(selection.runs, reference=reference)
    if not selection.chosen.empty:
        summary = summary.merge(
            selection.chosen[["task", "length", "variant", "selected"]],
            on=["task", "length", "variant"],
            how="left",
        )
    files: list[Path] = []
    runs_csv, summary_csv, summary_tex = out / "runs.csv", out / "summary.csv", out / "summary.tex"
    records.runs.to_csv(runs_csv, index=False)
    summary.to_csv(summary_csv, index=False)
    display_table(summary).to_latex(summary_tex, index=False, escape=True)
    files += [runs_csv, summary_csv, summary_tex]
    plot_files: list[Path] = []
    if plots and not summary.empty:
        from gatebench.report.plots import write_plots

        # the curves of the runs in the tables, under the tables' variant labels
        labels = dict(zip(selection.runs["source"], selection.runs["variant"], strict=True))
        curves = records.curves[records.curves["source"].isin(labels)]
        curves = curves.assign(variant=curves["source"].map(labels))
        plot_files = write_plots(summary, selection.runs, curves, out)
    fair, fair_files = fair_sections(records.runs, selection, out, plots)
    files += fair_files
    markdown = render_markdown(
        records, summary, title or "gatebench report", command, plot_files, fair, selection.runs
    )
    report_md = out / "report.md"
    report_md.write_text(markdown)
    files = [report_md, *files, *plot_files]
    return Report(summary=summary, markdown=markdown, files=files)
