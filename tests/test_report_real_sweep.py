"""A real tiny Hydra multirun of the runner, reported by the callback and by the library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gatebench.train  # noqa: F401  (the runner failing to import is a failure, not a skip)
from gatebench.report import load_runs, summarize

TINY_SWEEP = [
    "variant=rnn,lstm",
    "seed=0,1",
    "task=adding",
    "task.length=5",
    "variant.hidden_size=4",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=10",
    "trainer.val_check_interval=5",
    "trainer.log_every_n_steps=5",
    "threads=1",
    "logger=csv",
    # Registered in conf/train.yaml by the runner; `++` adds it if absent, keeps it if present.
    "++hydra.callbacks.write_report._target_=gatebench.report.callback.WriteReport",
    "++hydra.callbacks.write_report.plots=false",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("real_sweep") / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.train", "-m", *TINY_SWEEP,
         f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir, result.stdout


def test_callback_wrote_the_report_and_printed_the_table(sweep):
    sweep_dir, stdout = sweep
    assert "adding, T = 5: " in stdout and "\nrnn " in stdout  # the narrow end-of-sweep table
    assert f"report: {sweep_dir / 'report.md'}" in stdout
    report = (sweep_dir / "report.md").read_text()
    assert "python -m gatebench.train -m" in report and "variant=rnn,lstm" in report
    records = [json.loads(p.read_text()) for p in sweep_dir.glob("*/results.json")]
    if all(r.get("started_at") and r.get("ended_at") for r in records):  # runner writes stamps
        assert "Sweep wall time (first run start to last run end, from the records)" in report
    else:  # a runner without stamps: marked unknown, never taken from file times
        assert "Sweep wall time: unknown" in report
    assert "torch 2." in report  # software versions come from the records
    assert (sweep_dir / "summary.csv").is_file() and (sweep_dir / "runs.csv").is_file()


def test_report_of_a_real_sweep_has_one_row_per_variant(sweep):
    sweep_dir, _ = sweep
    records = load_runs([sweep_dir])
    assert len(records.runs) == 4
    summary = summarize(records.runs)
    assert sorted(summary["variant"]) == ["lstm", "rnn"]
    assert (summary["n_runs"] == 2).all() and (summary["length"] == 5).all()
    for run_dir in sweep_dir.glob("*/results.json"):
        record = json.loads(run_dir.read_text())
        row = records.runs[records.runs["source"] == str(run_dir.parent)].iloc[0]
        metric = record["metric"] if "/" in record["metric"] else f"val/{record['metric']}"
        assert row["final_metric"] == pytest.approx(record["final"][metric])
    assert {"train/loss", "val/norm_loss"} <= set(records.curves["metric"])
