"""A sweep job's identity is its config, not its number (issue 24): a re-run with its arguments
in another order finds its finished jobs, and a report never counts one run as two seeds.
Two sweeps into one directory at once keep their own bookkeeping."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import compose_config
from fixtures.report.builder import write_fixture_sweep
from omegaconf import OmegaConf

from gatebench.report.records import load_runs
from gatebench.run import exit_codes
from gatebench.run.resume import find_same_run
from gatebench.train import train

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task=adding",
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "threads=1",
    "logger=csv",
    "++hydra.callbacks.report.plots=false",
]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def test_a_job_finds_the_folder_that_holds_its_config(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    cfg = compose_config([*TINY[:-1], "seed=1"], sweep / "1_lstm-adding-T6-s1")
    train(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    assert find_same_run(sweep / "0_lstm-adding-T6-s1", config) == sweep / "1_lstm-adding-T6-s1"
    other_cfg = compose_config([*TINY[:-1], "seed=2"], sweep / "x")
    other = OmegaConf.to_container(other_cfg, resolve=True)
    assert find_same_run(sweep / "0_lstm-adding-T6-s2", other) is None  # another seed: no twin
    assert find_same_run(sweep / "1_lstm-adding-T6-s1", config) is None  # already in its own


def test_report_counts_a_run_recorded_twice_once_and_names_the_copy(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    write_fixture_sweep(sweep, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1))
    before = load_runs([sweep]).runs
    first = sorted(p.parent for p in sweep.glob("*/results.json"))[0]
    shutil.copytree(first, sweep / "9_copy")
    records = load_runs([sweep])
    assert len(records.runs) == len(before)  # the copy is not one more seed
    note = "one run counted once, never as two seeds"
    assert f"same config as {first} ({note}): {sweep / '9_copy'}" in records.notes
    assert str(sweep / "9_copy") not in set(records.runs["source"])


def _sweep(sweep: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gatebench.train", "-m", *TINY, *args,
            f"hydra.sweep.dir={sweep}"]  # fmt: skip


def _results(sweep: Path) -> dict[str, bytes]:
    return {str(p.relative_to(sweep)): p.read_bytes() for p in sweep.glob("*/results.json")}


@pytest.mark.slow
def test_a_sweep_rerun_in_another_order_trains_nothing_again(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    first = subprocess.run(_sweep(sweep, "seed=0,1"), cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    done = _results(sweep)
    again = subprocess.run(_sweep(sweep, "seed=1,0"), cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert _results(sweep) == done  # no new record, none rewritten
    moved = sweep / "0_lstm-adding-T6-s1" / "same_run_as.txt"
    assert moved.read_text().strip() == str(sweep / "1_lstm-adding-T6-s1")
    runs = pd.read_csv(sweep / "runs.csv")
    assert sorted(runs["seed"]) == [0, 1]  # seed 1 once, not twice
    assert re.search(r"jobs 2/2 done \(2 (finished|solved)\)", again.stdout), again.stdout


@pytest.mark.slow
def test_two_sweeps_into_one_dir_keep_their_own_tallies_and_outcomes(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    long = ["trainer.max_steps=9000", "trainer.val_check_interval=3000", "seed=0"]
    first = subprocess.Popen(_sweep(sweep, *long), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not list(sweep.glob("0_*/checkpoints")) and not list(sweep.glob("0_*/metrics.csv")):
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.01)
    second = subprocess.run(_sweep(sweep, *long), cwd=REPO, env=ENV, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    running = first.poll() is None
    out, err = first.communicate(timeout=600)
    assert second.returncode == exit_codes.FAILED  # its only job was refused: not a success
    assert "1 of 1 jobs failed" in second.stderr and "is in use by pid" in second.stderr
    assert "jobs 1/1 done" in second.stdout
    if running:  # the second ended while the first trained: no report over half a sweep
        assert "report: not written: another sweep still trains in" in second.stdout
    assert first.returncode == 0, err[-3000:]
    tallies = [tuple(map(int, m)) for m in re.findall(r"jobs (\d+)/(\d+) done", out)]
    assert tallies and all(done <= total for done, total in tallies)
    assert "jobs 1/1 done" in out and (sweep / "report.md").is_file()
    record = json.loads(next(sweep.glob("0_*/results.json")).read_text())
    assert record["status"] in ("finished", "solved")  # trained once, by the first sweep
    assert len(record["segments"]) == 1
