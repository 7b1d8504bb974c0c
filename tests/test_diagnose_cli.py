"""`python -m gatebench.diagnose` on a user cell's run (issue 24): it loads the run's `imports`
as training did, and a run it cannot diagnose is one line, after which it goes on to the next
run and exits 1 at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import variants.cell
from gatebench.train import train

REPO = Path(__file__).resolve().parent.parent
CELL = '''
import torch

from variants import Cell


class DiagHalfRNNCell(Cell):
    """h = tanh(x W^T + h R^T + b) / 2: registered only where `imports: [diag_half_cells]` ran."""
    name = "diaghalfrnn"

    def pointwise(self, xp_t, hp_t, carry, extra):
        return (0.5 * torch.tanh(xp_t + hp_t),)
'''


@pytest.mark.slow  # a training run and a diagnose process: ~10-25 s on a loaded 2-core machine
def test_diagnose_loads_the_runs_imports_and_fails_per_run_in_one_line(
    tiny_config, tmp_path, monkeypatch
) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "diag_half_cells.py").write_text(CELL)
    monkeypatch.syspath_prepend(str(mods))
    monkeypatch.setattr(variants.cell, "REGISTRY", dict(variants.cell.REGISTRY))  # kept local
    good = tmp_path / "good"
    train(tiny_config("task=adding", "task.length=6", "variant=rnn", "variant.name=diaghalfrnn",
                      "imports=[diag_half_cells]", run_dir=good))  # fmt: skip
    broken = tmp_path / "broken"  # its module is gone: the one-line config error, not a trace
    shutil.copytree(good, broken)
    record = json.loads((broken / "results.json").read_text())
    record["config"]["imports"] = ["no_such_cells_module"]
    (broken / "results.json").write_text(json.dumps(record))

    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(mods)])}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "gatebench.diagnose", str(tmp_path / "none"),
                             str(broken), str(good)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert [line.split(": ")[0] for line in errors] == ["gatebench.diagnose"] * 2, result.stderr
    assert errors[0] == f"gatebench.diagnose: error: {tmp_path / 'none'}: not a directory"
    assert errors[1].startswith(f"gatebench.diagnose: error: {broken}: ConfigError: imports: "
                                "cannot import 'no_such_cells_module'")
    assert result.stdout.startswith(f"{good}: diagnostics.npz written")  # after the failures
    end = json.loads((good / "results.json").read_text())["diagnostics"]["snapshots"][-1]
    assert end["step"] == 20 and (good / "diagnostics.npz").is_file()
