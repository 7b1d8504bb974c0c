"""Write a report directory: report.md, runs.csv, summary.csv, summary.tex and the plots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gatebench.report.family import MIN_P, TESTS, check_family, seeds_advice, testable, too_small
from gatebench.report.markdown import display_table, markdown_tables, num
from gatebench.report.provenance import provenance
from gatebench.report.ranking import overall_ranking
from gatebench.report.records import RunRecords
from gatebench.report.statistics import ALPHA, BOOTSTRAP_MIN_RUNS
from gatebench.report.tables import problem_runs, summarize

__all__ = ["Report", "display_table", "markdown_tables", "render_markdown", "write_report"]


@dataclass
class Report:
    """What `write_report` produced: the summary frame, the overall ranking, the markdown text
    and the files."""

    summary: pd.DataFrame
    markdown: str
    files: list[Path]
    ranking: pd.DataFrame | None = None


def _problem_section(records: RunRecords) -> str:
    problems = problem_runs(records.runs)
    lines = ["## Runs that did not complete, and records that lack a value\n"]
    if problems.empty:
        lines.append("None: every run finished or solved and recorded what the report reads.\n")
    else:
        lines.append(
            f"{problems['source'].nunique()} run(s), {len(problems)} problem(s): counted in the "
            "tables; what a record lacks is left out of the statistic that needs it:\n"
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


METHOD = (
    "**How to read it.** Each row is one variant over its seeds. The compared value is each "
    "run's primary metric, and `norm_loss` its loss / trivial baseline (1.0 = learned nothing, "
    "the best input-independent prediction), both on the held-out test set (`test/...`) of the "
    "final weights; on the last validation (`val/...`) where a run has no test result (a solved "
    "run stops at the validation where it first met the criterion, so validation values are "
    "selected on their own set; test values are not). `per seed` lists every run's value. "
    "Intervals never leave the metric's range: from {min_runs} runs on, a bootstrap 95% interval "
    "of the mean over seeds (`scipy.stats.bootstrap`, BCa); below that the min-max `range` of "
    "the runs, since 2-4 seeds carry no interval. The median is shown beside the mean: where "
    "runs split into clusters (solved and unsolved, or learned and stuck) the mean of 3 seeds "
    "describes none of them. Solved rates carry a Wilson 95% interval. "
    "Steps to solve are censored data: a run that did not solve is censored at its last step "
    "(a diverged run at the step budget: it can never solve), and the Kaplan-Meier median "
    "(Brookmeyer-Crowley 95% interval; `not reached`: more than half never solved) replaces a "
    "median over solved runs only; a step is known only to the validation interval. Effect "
    "sizes: the mean difference to the reference (bootstrap interval from {min_runs} runs per "
    "side, else the range of pairwise differences) and P(better than ref), the probability "
    "that a run of the variant beats one of the reference (ties half; Cliff's delta = 2P - 1). "
    "Diverged and failed runs are counted but not in the metric statistics; the solved rate "
    "counts diverged runs as unsolved and leaves failed runs (exceptions) out.\n"
)


def family_section(summary: pd.DataFrame) -> str:
    """The multiple-comparison family: its size, what is in it, and what n would be needed."""
    if summary.empty:
        return ""
    family = str(summary["family"].iloc[0])
    m = int(summary["family_size"].max())
    counts = {t: int(summary[f"p_{t}_holm"].notna().sum()) for t in TESTS}
    small = {t: int(too_small(summary, t).sum()) for t in TESTS}
    lines = ["## Multiple comparisons\n"]
    if family == "study":
        lines.append(
            f"Holm's correction runs over **every comparison in this report: m = {m}** "
            f"p-values (" + ", ".join(f"{counts[t]} from the {TESTS[t]}" for t in TESTS) + "); "
            "`--family table` corrects within each table and test instead."
        )
    else:
        lines.append(
            f"`--family table`: Holm's correction runs within each (task, length) table and "
            f"test (at most {m} p-values each). A reader who draws conclusions from several "
            f"tables should use the default, study-wide family ({sum(counts.values())} p-values "
            "here)."
        )
    if any(small.values()):
        lines.append(
            "\nA test that cannot reach p < 0.05 at its sample size whatever the outcome (its "
            "smallest achievable p computed exactly) is shown as `n too small (min p = ...)` and "
            "not counted in the family (Tarone 1990): "
            + ", ".join(f"{small[t]} from the {TESTS[t]}" for t in TESTS if small[t])
            + "."
        )
    study_m = m if family == "study" else sum(counts.values())
    # tests whose best possible outcome cannot survive Holm over the family at these sizes
    blocked = [
        t
        for t in MIN_P
        if small[t]
        or (counts[t] and float(summary.loc[testable(summary, t), f"min_p_{t}"].min())
            > ALPHA / max(study_m, 1))
    ]  # fmt: skip
    if blocked:
        lines.append("\nSeeds needed (equal runs per variant, best possible outcome):\n")
        lines.extend(f"- {seeds_advice(t, study_m)}" for t in blocked)
    lines.append("")
    return "\n".join(lines) + "\n"


def ranking_section(ranking: pd.DataFrame) -> str:
    """The overall table: every variant across the (task, length) tables it ran."""
    if ranking.empty:
        return ""
    shown = pd.DataFrame({
        "variant": ranking["variant"],
        "tables": ranking["tables"],
        "IQM norm_loss [95% stratified bootstrap]": [
            f"{num(r.iqm_norm_loss)} [{num(r.iqm_low)}, {num(r.iqm_high)}]"
            for r in ranking.itertuples()
        ],
        "mean rank in its tables": [num(v, 3) for v in ranking["mean_rank"]],
        "solved / runs": [f"{r.solved}/{r.runs}" for r in ranking.itertuples()],
    })  # fmt: skip
    text = (
        "Every variant across every (task, length) it ran, best first: the interquartile mean "
        "of its runs' `norm_loss` (lower is better; 1.0 = the trivial baseline) with a stratified "
        "bootstrap interval (each task and length resampled on its own; Agarwal et al. 2021, "
        "rliable), and its mean rank within the tables (by solved rate, then the metric). "
        "Overlapping intervals mean the ranking between those variants is not established."
    )
    if ranking["tables"].nunique() > 1:
        text += (
            " Variants ran different numbers of tables: their IQMs are over different tasks and "
            "lengths and are not directly comparable."
        )
    return "\n".join(["## Overall\n", text + "\n", shown.to_markdown(index=False) + "\n"])


def render_markdown(
    records: RunRecords,
    summary: pd.DataFrame,
    title: str,
    command: str | None,
    plots: Sequence[Path],
    ranking: pd.DataFrame | None = None,
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
    head.append(METHOD.format(min_runs=BOOTSTRAP_MIN_RUNS))
    body = ["## Tables\n", markdown_tables(summary), fair]
    if ranking is not None:
        body.append(ranking_section(ranking))
    body += [family_section(summary), _problem_section(records)]
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
    family: str = "study",
    select: str = "val",
    select_over: Sequence[str] | None = None,
) -> Report:
    """Write report.md, runs.csv, summary.csv, ranking.csv, summary.tex, stopping.csv, cost.csv
    (and PNG/SVG plots) into out_dir; p-values are Holm-adjusted over `family` (`study` or `table`).

    Runs that differ in a swept config value are never pooled: `select="val"` keeps each
    variant's setting chosen on validation (over `select_over`, default every swept key),
    `select="none"` makes each setting its own row (`gatebench.report.selection`).
    """
    from gatebench.report.cost import cost_markdown, cost_table
    from gatebench.report.fair import fair_sections
    from gatebench.report.selection import select as select_settings
    from gatebench.report.stopping import stopping_markdown, stopping_table

    check_family(family)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    selection = select_settings(records.runs, select, list(select_over or []))
    summary = summarize(selection.runs, reference=reference, family=family)
    if not selection.chosen.empty:
        summary = summary.merge(
            selection.chosen[["task", "length", "variant", "selected"]],
            on=["task", "length", "variant"],
            how="left",
        )
    ranking = overall_ranking(summary, selection.runs)
    files: list[Path] = []
    runs_csv, summary_csv, summary_tex = out / "runs.csv", out / "summary.csv", out / "summary.tex"
    ranking_csv = out / "ranking.csv"
    records.runs.to_csv(runs_csv, index=False)
    summary.to_csv(summary_csv, index=False)
    ranking.to_csv(ranking_csv, index=False)
    display_table(summary).to_latex(summary_tex, index=False, escape=True)
    files += [runs_csv, summary_csv, ranking_csv, summary_tex]
    plot_files: list[Path] = []
    if plots and not summary.empty:
        from gatebench.report.diagnostics_plots import write_diagnostics_plots
        from gatebench.report.plots import write_plots

        # the curves of the runs in the tables, under the tables' variant labels
        labels = dict(zip(selection.runs["source"], selection.runs["variant"], strict=True))
        curves = records.curves[records.curves["source"].isin(labels)]
        curves = curves.assign(variant=curves["source"].map(labels))
        plot_files = write_plots(summary, selection.runs, curves, out)
        plot_files += write_diagnostics_plots(records.runs, out)
    fair, fair_files = fair_sections(records.runs, selection, out, plots)
    files += fair_files
    endings = stopping_table(selection.runs, records.curves)
    if not endings.empty:
        endings.to_csv(out / "stopping.csv", index=False)
        files.append(out / "stopping.csv")
        fair = "\n".join(p for p in (fair, stopping_markdown(endings)) if p)
    costs = cost_table(selection.runs, records.curves)
    if not costs.empty:
        costs.to_csv(out / "cost.csv", index=False)
        files.append(out / "cost.csv")
        fair = "\n".join(p for p in (fair, cost_markdown(costs)) if p)
    markdown = render_markdown(
        records, summary, title or "gatebench report", command, plot_files, ranking, fair,
        selection.runs,
    )
    report_md = out / "report.md"
    report_md.write_text(markdown)
    files = [report_md, *files, *plot_files]
    return Report(summary=summary, markdown=markdown, files=files, ranking=ranking)
