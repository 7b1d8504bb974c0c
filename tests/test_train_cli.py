"""The real CLI: bad input fails cleanly; multiruns through joblib and submitit write every run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "gatebench.train", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer.lr=-1", "gatebench: error: optimizer.lr=-1 is invalid: expected a number > 0"),
        ("task.length=0", "gatebench: error: task.length=0 is invalid: expected an integer >= 1"),
    ],
)
def test_invalid_value_fails_with_one_line_and_no_results(override, expected, tmp_path) -> None:
    result = run_cli(override, f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert result.stderr.strip() == expected  # exactly one line
    assert not list(tmp_path.rglob("results.json"))


@pytest.mark.parametrize(
    ("group", "option", "listed"), [("variant", "lsmt", "peephole"), ("task", "addding", "copy")]
)
def test_unknown_option_gets_hydras_list_of_options(group, option, listed, tmp_path) -> None:
    result = run_cli(f"{group}={option}", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert f"Could not find '{group}/{option}'" in result.stderr
    assert f"Available options in '{group}'" in result.stderr and f"\t{listed}\n" in result.stderr
    assert not list(tmp_path.rglob("results.json"))


def _sweep_records(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/results.json"))]


def _progress_counts(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"jobs (\d+)/2 done \(", text)]


def test_joblib_multirun_writes_one_results_json_per_job_from_two_processes(tmp_path) -> None:
    result = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        *TINY,
        f"hydra.sweep.dir={tmp_path}",
        "~hydra.callbacks.report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = _sweep_records(tmp_path)
    assert [r["seed"] for r in records] == [0, 1]
    assert all(r["status"] in ("finished", "solved") for r in records)
    assert all(r["launch_id"] == tmp_path.name for r in records)
    assert len({r["pid"] for r in records}) == 2  # two worker processes
    assert all(r["torch_threads"] == 1 for r in records)  # threads=null: 1 per parallel job
    assert f"results in {tmp_path}" in result.stdout
    # sweep progress, printed by the workers as their jobs end, and in progress.log
    assert _progress_counts(result.stdout) == [1, 2, 2]  # + the summary
    assert _progress_counts((tmp_path / "progress.log").read_text()) == [1, 2, 2]  # + summary


def test_submitit_local_multirun_writes_one_results_json_per_job(tmp_path) -> None:
    # hydra/launcher=submitit_local: the same submitit code path a SLURM cluster takes.
    result = run_cli(
        "-m",
        "hydra/launcher=submitit_local",
        "seed=0,1",
        *TINY,
        f"hydra.sweep.dir={tmp_path}",
        "~hydra.callbacks.report",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = _sweep_records(tmp_path)
    assert [r["seed"] for r in records] == [0, 1]
    assert all(r["status"] in ("finished", "solved") for r in records)
    assert (tmp_path / ".submitit").is_dir()
    # each submitit job adds its progress line to progress.log (its stdout goes to .submitit/)
    assert _progress_counts((tmp_path / "progress.log").read_text()) == [1, 2, 2]  # + summary
