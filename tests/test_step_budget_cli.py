"""`python -m devtools.step_budget` (issue 27): it runs, prints its columns, its ratios are the
times over the bound, and its FLOP count is the one torch's FlopCounterMode counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import variants
from devtools import step_budget
from variants.backends.bptt import native as bptt_native

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "devtools.step_budget", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quick_run_prints_every_column_and_ratios_to_the_bound():
    out = _run("--quick", "--cells", "lstm", "--json")
    (r,) = [json.loads(line) for line in out.strip().splitlines()]
    assert set(step_budget.COLUMNS) <= set(r)
    assert (r["cell"], r["B"], r["H"], r["T"]) == ("lstm", 4, 8, 10)
    # auto at this size (variants.backends.auto): the C loops, or bptt without a C compiler
    assert r["resolved"] == ("native" if bptt_native.library() is not None else "bptt")
    bound = step_budget.matmul_flops(4, 4, 8, 10, 8) / (r["gemm_gflops"] * 1e9) * 1e3
    assert r["bound_ms"] == pytest.approx(bound, rel=2e-3)  # gemm_gflops is rounded to 0.1
    for name in ("layer", "bare", "lightning", "run"):
        assert r[f"{name}_ms"] > 0
        assert r[f"{name}_x"] == pytest.approx(r[f"{name}_ms"] / r["bound_ms"], rel=0.01)


def test_table_names_its_columns_and_the_load(capsys):
    step_budget.main(["--quick", "--cells", "gru", "--no-lightning"])
    header, columns, row = capsys.readouterr().out.strip().splitlines()[:3]
    assert "load average" in header and "thread(s)" in header
    assert columns.split() == list(step_budget.COLUMNS)
    assert row.split()[0] == "gru" and row.split()[step_budget.COLUMNS.index("lightning_ms")] \
        == "n/a"


@pytest.mark.parametrize(("cell", "blocks"), [("lstm", 4), ("gru", 3), ("rnn", 1), ("cifg", 3)])
def test_the_flop_count_is_what_torch_counts_for_the_reference_engine(cell, blocks):
    steps, batch, inputs, hidden = 3, 2, 5, 4
    assert step_budget.gate_blocks(cell, hidden) == blocks
    layer = variants.build(cell, inputs, hidden, backend="reference")
    x = torch.randn(steps, batch, inputs, requires_grad=True)
    state = tuple(torch.randn(1, batch, hidden, requires_grad=True)
                  for _ in layer.cell.state_names)
    with FlopCounterMode(display=False) as counter:
        out, _ = layer(x, state[0] if len(state) == 1 else state)
        out.sum().backward()
    assert counter.get_total_flops() == step_budget.matmul_flops(blocks, batch, hidden, steps,
                                                                 inputs)


def test_bad_sizes_are_refused_with_the_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        step_budget.parse_args(["--sizes", "32x0x5"])
    assert stop.value.code == 2 and "--sizes '32x0x5'" in capsys.readouterr().err
