"""Sweeps survive what happens to them (issue 12 item 3, issue 11 item 4), as real processes:
a sweep killed part-way and re-run skips its finished jobs and completes the rest, a changed
config is refused, and a job with a config error is a failed record, not a dead sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from gatebench.run import exit_codes

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "++hydra.callbacks.report.plots=false",
]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def command(sweep_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gatebench.train", "-m", *TINY, *args,
            f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip


def run(sweep_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(sweep_dir, *args), cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def _files(sweep_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(sweep_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
        for name in ("results.json", "metrics.csv")
        for p in sweep_dir.glob(f"*/{name}")
    }


def test_sweep_killed_part_way_and_rerun_skips_finished_jobs_and_refuses_a_changed_config(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(command(sweep, "seed=0,1,2"), cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while not list(sweep.glob("0_*/results.json")) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the sweep ended before it could be killed"
    done = _files(sweep)
    assert 1 <= len(list(sweep.glob("*/results.json"))) < 3

    again = run(sweep, "seed=0,1,2")
    assert again.returncode == 0, again.stderr[-3000:]
    after = _files(sweep)
    assert all(after[name] == done[name] for name in done)  # finished jobs untouched
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert [r["seed"] for r in records] == [0, 1, 2]
    assert all(r["status"] in ("finished", "solved") and r["steps"] == 20 for r in records)
    assert len(pd.read_csv(sweep / "runs.csv")) == 3  # the report covers the whole sweep

    changed = run(sweep, "seed=0,1,2", "optimizer.lr=0.05")
    assert changed.returncode == exit_codes.FAILED
    assert "3 of 3 jobs failed" in changed.stderr
    assert "optimizer.lr=0.05 differs from the run already in" in changed.stderr
    assert _files(sweep) == after  # nothing rewritten


def test_multirun_job_with_a_config_error_is_recorded_and_the_sweep_goes_on(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run(sweep, "optimizer.lr=-1,0.01")
    assert result.returncode == exit_codes.FAILED
    bad, good = (json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json")))
    assert bad["status"] == "failed"
    assert bad["message"] == "config error: optimizer.lr=-1 is invalid: expected a number > 0"
    assert good["status"] in ("finished", "solved") and good["steps"] == 20
    assert "1 of 2 jobs failed" in result.stderr and "optimizer.lr=-1 is invalid" in result.stderr
    runs = pd.read_csv(sweep / "runs.csv")  # the report was written and holds both jobs
    assert sorted(runs["status"]) == sorted([bad["status"], good["status"]])
    assert (sweep / "report.md").is_file()
