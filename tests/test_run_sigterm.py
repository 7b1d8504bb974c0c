"""SIGTERM (SLURM's preemption and time-out signal) to real processes (issue 24): a run and a
basic-launcher multirun exit TERMINATED with one line saying how to resume, record nothing final,
keep a checkpoint of the step they stopped at, and the resume ends where an uninterrupted run
ends. Lightning alone exits 0 and records nothing."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import compose_config

from gatebench.run import exit_codes
from gatebench.train import train

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task=adding",
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.log_every_n_steps=5",
    "threads=1",
    "logger=csv",
]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k != "train/steps_per_sec"} for r in rows]


def _state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def _training(metrics: Path) -> bool:
    """`metrics` holds a training row (the step-0 validation row comes before training)."""
    try:
        return any(line.split(",")[0] not in ("step", "0") for line in open(metrics))
    except OSError:
        return False


def _terminate_when(proc: subprocess.Popen, metrics: Path) -> tuple[int, str]:
    """SIGTERM `proc` once `metrics` shows it trains; its exit code and stderr."""
    while not _training(metrics) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_sigterm_keeps_a_checkpoint_exits_143_and_the_printed_resume_ends_like_a_straight_run(
    tmp_path,
) -> None:
    # no validation between step 0 and the end: the checkpoint must come from the SIGTERM itself
    run_dir, common = tmp_path / "run", [*TINY, "trainer.max_steps=600",
                                          "trainer.val_check_interval=1000"]  # fmt: skip
    args = [sys.executable, "-m", "gatebench.train", *common, f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    code, err = _terminate_when(proc, run_dir / "metrics.csv")
    assert code == exit_codes.TERMINATED, err[-2000:]
    assert not (run_dir / "results.json").exists()  # nothing final recorded
    stopped_at = _state(run_dir)["global_step"]
    assert 5 <= stopped_at < 600
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"gatebench: stopped by SIGTERM at step {stopped_at}: no record ")
    assert f"checkpoint {run_dir}/checkpoints/last.ckpt (step {stopped_at}) kept" in line
    # the rows logged up to it (every 5 steps) flushed
    assert max(int(r["step"]) for r in _rows(run_dir)) == stopped_at - stopped_at % 5

    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[:3] == ["python", "-m", "gatebench.train"]
    resumed = subprocess.run([sys.executable, *command[1:]], cwd=REPO, env=ENV,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == exit_codes.OK, resumed.stderr[-2000:]
    straight = train(compose_config(common, tmp_path / "straight"))
    a, b = _state(run_dir)["state_dict"], _state(tmp_path / "straight")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(run_dir) == _rows(tmp_path / "straight")  # every step once, same values
    record = json.loads((run_dir / "results.json").read_text())
    assert record["final"] == straight["final"] and record["steps"] == 600
    assert [s["steps"] for s in record["segments"]] == [[0, stopped_at], [stopped_at, 600]]


@pytest.mark.slow
def test_sigterm_stops_a_basic_launcher_multirun_naming_the_jobs_not_run_and_a_rerun_finishes(
    tmp_path,
) -> None:
    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "gatebench.train", "-m", *TINY, "trainer.max_steps=400",
            "trainer.val_check_interval=1000", "seed=0,1,2", "++hydra.callbacks.report.plots=false",
            f"hydra.sweep.dir={sweep}"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not any(map(_training, sweep.glob("0_*/metrics.csv"))) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == exit_codes.TERMINATED, err[-3000:]
    job = next(sweep.glob("0_*"))
    assert not list(sweep.glob("*/results.json"))  # nothing final, and jobs 1, 2 never started
    assert [p.name for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit()] == [job.name]
    step = _state(job)["global_step"]
    lines = err.strip().splitlines()[-2:]
    assert lines[0].startswith(f"gatebench: sweep stopped by SIGTERM: job #0 {job.name[2:]} "
                               f"stopped by SIGTERM at step {step}: no record written")
    assert lines[0].endswith(f"hydra.sweep.dir={sweep}")
    assert lines[1] == "gatebench: jobs not run (2): #1 seed=1, #2 seed=2"
    assert "jobs 1/3 done" not in out and not (sweep / "report.md").exists()

    again = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == exit_codes.OK, again.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert [(r["seed"], r["steps"]) for r in records] == [(0, 400), (1, 400), (2, 400)]
    assert [s["steps"] for s in records[0]["segments"]] == [[0, step], [step, 400]]


@pytest.mark.slow
def test_sigterm_to_a_joblib_sweep_process_group_exits_143_recording_nothing(tmp_path) -> None:
    """As SLURM signals a job: every process of the sweep (main and joblib workers) at once."""
    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "gatebench.train", "-m", "hydra/launcher=local",
            "hydra.launcher.n_jobs=2", *TINY, "trainer.max_steps=3000",
            "trainer.val_check_interval=1000", "seed=0,1,2,3",
            "++hydra.callbacks.report.plots=false", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    while not any(map(_training, sweep.glob("*/metrics.csv"))) and proc.poll() is None:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == exit_codes.TERMINATED, err[-3000:]
    assert "stopped by SIGTERM" in err.strip().splitlines()[-1]
    assert not list(sweep.glob("*/results.json"))  # no job says it finished
    assert list(sweep.glob("*/checkpoints/last.ckpt"))  # the training job kept its step
