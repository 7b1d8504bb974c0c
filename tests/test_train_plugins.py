"""User cells from other packages reach every job of a parallel sweep: the README's example package
(examples/ugrnn_cell, found through its `gatebench.variants` entry point) and a module named in
`imports:`, in a real joblib sweep of two worker processes whose log lines carry their run names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatebench.config.plugins import import_modules
from gatebench.config.validation import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "ugrnn_cell"
TINY = [
    "task=adding",
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
]
IMPORTED_CELL = '''
import torch

from variants import Cell


class HalfRNNCell(Cell):
    """h = tanh(x W^T + h R^T + b) / 2: registered only where `imports: [half_cells]` ran."""
    name = "halfrnn"

    def pointwise(self, xp_t, hp_t, carry, extra):
        return (0.5 * torch.tanh(xp_t + hp_t),)
'''


def test_docs_show_the_example_package_as_it_is() -> None:
    readme = (REPO / "docs" / "engines.md").read_text()
    for path in ("ugrnn_cell/cell.py", "ugrnn_cell/conf/variant/ugrnn.yaml"):
        assert (EXAMPLE / path).read_text().strip() in readme, path
    assert 'ugrnn = "ugrnn_cell.cell:UGRNNCell"' in readme


def test_a_module_that_cannot_be_imported_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^imports: cannot import 'no_such_module_x': "):
        import_modules(["no_such_module_x"])
    with pytest.raises(ConfigError, match=r"^imports='json' is invalid: expected a list"):
        import_modules("json")


def test_entry_point_and_imports_cells_train_in_a_joblib_sweep_with_tagged_logs(tmp_path) -> None:
    package = shutil.copytree(EXAMPLE, tmp_path / "ugrnn_cell")
    site, mods = tmp_path / "site", tmp_path / "mods"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*install, "--target", str(site), str(package)], check=True, timeout=300)
    mods.mkdir()
    (mods / "half_cells.py").write_text(IMPORTED_CELL)

    path = os.pathsep.join([str(REPO), str(site), str(mods), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatebench.train", "-m", "hydra/launcher=local",
         "hydra.searchpath=[pkg://ugrnn_cell.conf]", "variant=ugrnn", "imports=[half_cells]",
         "variant.name=ugrnn,halfrnn", *TINY, f"hydra.sweep.dir={sweep}"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]

    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert {r["variant"] for r in records} == {"ugrnn", "halfrnn"}
    assert all(r["status"] == "finished" for r in records), [r["message"] for r in records]
    assert all(r["backend"] == "reference" for r in records)  # no kernel declared: `auto` says so
    assert proc.pid not in {r["pid"] for r in records}  # trained in joblib's worker processes
    params = {r["variant"]: r["recurrent_params"] for r in records}
    assert params == {"ugrnn": 2 * (8 * 8 + 8 * 8 + 8 + 8), "halfrnn": 8 * 8 + 8 * 8 + 8 + 8}

    names = {r["run_name"] for r in records}
    log_lines = [line for line in out.splitlines() if "][gatebench][" in line]
    tags = [re.search(r"\]\[gatebench\]\[\w+\] - \[([^\]]+)\] ", line) for line in log_lines]
    assert log_lines and all(tags), [line for line, t in zip(log_lines, tags, strict=True) if not t]
    assert {t.group(1) for t in tags} == names
    for record in records:  # the job's own train.log: its lines only, each with its name
        lines = (Path(record["run_dir"]) / "train.log").read_text().splitlines()
        assert lines and all(f"] - [{record['run_name']}] " in line for line in lines)
