"""The developer tools run under their `python -m devtools.<tool>` names (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tasks

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_speed_runs_as_a_module():
    out = _run("devtools.speed", "--variants", "peephole", "--backends", "bptt", "--sizes",
               "2x4x3", "--repeats", "1", "--warmup", "0", "--json")
    (record,) = [json.loads(line) for line in out.strip().splitlines()]
    assert (record["variant"], record["backend"], record["reference"]) == ("peephole", "bptt",
                                                                          "nn.LSTM")


def test_task_benchmark_runs_as_a_module():
    out = _run("devtools.task_benchmark", "--length", "20", "--batch", "2", "--hidden", "4",
               "--repeats", "1")
    rows = [line.split("|")[1].strip() for line in out.splitlines()[3:]]
    assert rows == tasks.names()
