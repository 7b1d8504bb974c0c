"""The written report: markdown, CSV, LaTeX, PNG/SVG plots, and the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import matplotlib.image
import pandas as pd
import pytest
from fixtures.report.builder import write_fixture_sweep, write_run

from gatebench.report import load_runs, write_report
from gatebench.report.__main__ import main
from gatebench.report.plots import DPI, PANEL_SIZE


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_fixture_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(load_runs([sweep.root]), out, command="python -m gatebench.train -m x=1,2")


def test_tables_are_written(report):
    names = {p.name for p in report.files}
    assert {"report.md", "runs.csv", "summary.csv", "summary.tex"} <= names
    out = report.files[0].parent
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2 * 3  # tasks x lengths x variants
    assert len(pd.read_csv(out / "runs.csv")) == 50
    tex = (out / "summary.tex").read_text()
    assert "\\begin{tabular}" in tex and "lstm" in tex and "recall\\_acc" in tex


def test_markdown_has_command_baselines_and_one_table_per_task_length(report):
    md = report.markdown
    assert md.index("python -m gatebench.train -m x=1,2") < md.index("## Tables")
    assert md.count("### ") == 4
    assert "### adding, T = 40" in md and "Trivial baseline: loss 0.1667" in md
    assert "Trivial baseline: loss 0.3466" in md  # copy, T = 40: 10 ln 8 / 60


def test_each_table_says_who_won_and_the_report_ranks_overall(report):
    md = report.markdown
    assert md.count("**Best: `") == 4  # one line per table
    for section in md.split("### ")[1:]:
        assert section.splitlines()[2].startswith("**Best: `")
    assert "## Overall" in md and "## Multiple comparisons" in md
    ranking = report.ranking
    assert (
        set(ranking["variant"]) == {"lstm", "gru", "rnn"} and ranking["variant"].iloc[-1] == "rnn"
    )
    assert (ranking["iqm_low"] <= ranking["iqm_norm_loss"]).all()
    assert (ranking["iqm_norm_loss"] <= ranking["iqm_high"]).all()
    m = int(report.summary["family_size"].iloc[0])
    assert f"every comparison in this report: m = {m}**" in md


def test_markdown_lists_the_diverged_and_the_failed_run(sweep, report):
    problems = report.markdown.split("## Runs that did not complete")[1]
    for source, status in sweep.statuses.items():
        if status in ("diverged", "failed"):
            line = next(line for line in problems.splitlines() if source + " " in line + " ")
            assert status in line
    assert "non-finite loss at step 110" in problems and "CUDA out of memory" in problems
    gru_row = next(
        line
        for line in report.markdown.split("### adding, T = 40")[1].splitlines()
        if line.startswith("| gru")
    )
    assert "/1/0 " in gru_row  # solved/finished/diverged/failed shows the diverged run


@pytest.mark.parametrize(
    ("stem", "panels"),
    [("metric_vs_length_adding", (2, 1)), ("curves_copy", (2, 1)), ("solved_adding", None)],
)
def test_plots_are_written_and_decodable(report, stem, panels):
    out = report.files[0].parent
    png, svg = out / f"{stem}.png", out / f"{stem}.svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    image = matplotlib.image.imread(png)
    height, width = image.shape[:2]
    if panels is not None:  # figure size = panels x PANEL_SIZE inches at DPI
        assert (width, height) == (
            round(panels[0] * PANEL_SIZE[0] * DPI),
            round(panels[1] * PANEL_SIZE[1] * DPI),
        )
    else:
        assert width > 200 and height > 100
    assert image[..., :3].std() > 0.05  # not a blank canvas


def _run_cli(*args):
    code = (
        "import sys\n"
        "from gatebench.report.__main__ import main\n"
        f"rc = main({list(args)!r})\n"
        "heavy = [m for m in ('torch', 'variants', 'tasks', 'pytorch_lightning', 'wandb')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_cli_writes_into_the_sweep_dir_without_importing_torch(sweep):
    """One subprocess: the whole CLI, plots included, never imports torch, variants or tasks."""
    args = ["--title", "fixture study", "--filter", "length=10", "--filter", "task=adding"]
    result = _run_cli(str(sweep.root), *args)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert "adding, T = 10: " in result.stdout  # the narrow table is printed
    table = result.stdout.split("adding, T = 10: ")[1].split("\nreport: ")[0]
    assert "\nvariant " in table and "norm_loss" in table
    assert max(len(line) for line in table.splitlines()) <= 100  # fits a 100-column terminal
    assert "T = 40" not in result.stdout and "copy" not in result.stdout  # filtered out
    assert (sweep.root / "report.md").read_text().startswith("# fixture study")
    assert (sweep.root / "solved_adding.png").stat().st_size > 1000


def test_cli_default_out_is_report_for_run_dirs(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([str(sweep.root / "0"), str(sweep.root / "1"), "--no-plots"]) == 0
    assert (tmp_path / "report" / "report.md").is_file()
    assert "wrote 7 files to report" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{empty}"], "no run records"),
        (["{sweep}", "--filter", "task"], "--filter 'task': expected KEY=VALUE"),
        (["{sweep}", "--filter", "colour=red"], "unknown key 'colour'"),
        (["{sweep}", "--filter", "task=nope"], "no runs left"),
        ([], "give a PATH"),
        (["--wandb", "justone"], "expected ENTITY/PROJECT"),
        (["{sweep}", "--family", "paper"], "--family 'paper': expected one of study, table"),
    ],
)
def test_cli_errors_are_one_line_and_nonzero(sweep, tmp_path, capsys, args, message):
    args = [a.format(empty=tmp_path, sweep=sweep.root) for a in args]
    assert main([*args, "--no-plots", "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_cli_module_exit_status_is_nonzero_on_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.report", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "no run records" in result.stderr


def test_a_row_pooling_different_task_parameters_is_flagged(sweep, tmp_path):
    # the fixture sweep plus one more copy run at an existing length with another `loss_on`
    first = json.loads(next(sweep.root.glob("*/results.json")).read_text())
    record = {**first, "run_name": "extra", "seed": 99}
    record["task"] = {**first["task"], "params": {**first["task"]["params"], "loss_on": "other"}}
    write_run(sweep.root / "extra-run", record, None)
    try:
        markdown = write_report(load_runs([sweep.root]), tmp_path, plots=False).markdown
    finally:
        shutil.rmtree(sweep.root / "extra-run")
    task, length, variant = first["task"]["name"], first["length"], first["variant"]
    assert f"{task}, T = {length}, {variant}: pools runs with different task parameters" in markdown
    assert (
        "different task parameters"
        not in write_report(load_runs([sweep.root]), tmp_path / "clean", plots=False).markdown
    )


def test_records_with_missing_or_non_finite_values_are_counted_and_listed(tmp_path):
    from fixtures.report.builder import _record

    for seed in range(3):
        record = _record("adding", 20, "lstm", seed, "val/mse", "min", 1 / 6)
        record.update(status="solved", steps=100, steps_to_solve=100, norm_loss=0.01,
                      final={"val/mse": 0.001}, test={"test/mse": 0.002})  # fmt: skip
        if seed == 0:
            record["test"] = {"test/mse": float("nan")}  # JSON NaN: non-finite
            record["started_at"] = "yesterday"
        if seed == 1:
            record["steps_to_solve"] = None
        write_run(tmp_path / f"run{seed}", record, None)
    report = write_report(load_runs([tmp_path]), tmp_path / "out", plots=False)
    problems = report.markdown.split("## Runs that did not complete")[1].split("## ")[0]
    row0 = [line for line in problems.splitlines() if "/run0 " in line + " "]
    assert any("no finite test metric" in line for line in row0)
    assert any("unreadable started_at 'yesterday'" in line for line in row0)
    assert any("/run1 " in line + " " and "no steps_to_solve" in line
               for line in problems.splitlines())  # fmt: skip
    row = report.summary.iloc[0]
    assert row["metric"] == "val/mse" and row["n_stat"] == 3  # validation, all three runs
    assert row["n_censored"] == 0 and row["km_median_steps"] == 100  # two placed events
    assert "2 run(s), 3 problem(s)" in problems
