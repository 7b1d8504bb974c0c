"""gatebench.report.mechanism on records whose trajectories are written here, so the events
and leads are known: the climb of the memory is read after the first transient, the loss
event is the first snapshot under the level, and the table's sign test is scipy's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from gatebench.report import mechanism

BASELINE = 1 / 6


def record(keep_at: int, loss_at: int, seed: int = 0, variant: str = "gru",
           steps: int = 200, every: int = 10) -> dict:  # fmt: skip
    """A run whose retention at the first input jumps from 1e-12 to 1e-3 in the first 10 steps
    (the output layer's transient), stays there, and climbs to 0.2 at `keep_at`; its loss falls
    from 5x the baseline to 0.8x at step 10 and to 0.05x at `loss_at`."""
    shots = []
    for step in range(0, steps + 1, every):
        kept = 1e-12 if step == 0 else (0.2 if step >= keep_at else 1e-3)
        loss = 5.0 if step == 0 else (0.05 if step >= loss_at else 0.8)
        shots.append({"step": step, "loss": loss * BASELINE, "retention_marked": [kept, 0.5],
                      "grad_ratio_h": kept / 10})  # fmt: skip
    return {"variant": variant, "length": 100, "seed": seed, "status": "solved",
            "baseline": BASELINE, "diagnostics": {"snapshots": shots}}  # fmt: skip


def test_the_events_skip_the_first_transient() -> None:
    row = mechanism.events(record(keep_at=60, loss_at=100))
    # the climb from 1e-12 at step 0 is larger, but it is the transient: read from step 10 on
    assert (row["t_keep"], row["t_loss"], row["lead_keep"]) == (60, 100, 40)
    assert row["keep_rise"] == pytest.approx(200)
    assert row["t_grad"] == 60 and row["lead_grad"] == 40


def test_a_loss_that_never_falls_and_a_memory_that_never_climbs() -> None:
    flat = record(keep_at=10**6, loss_at=10**6)
    row = mechanism.events(flat)
    assert math.isnan(row["t_loss"]) and math.isnan(row["lead_keep"])
    assert math.isnan(row["t_keep"]) and row["keep_rise"] == pytest.approx(1.0)


def test_half_way_on_a_log_scale() -> None:
    steps = np.arange(0, 60, 10, dtype=float)
    values = np.array([1.0, 1.0, 10.0, 100.0, 1000.0, 900.0])
    # log-half of 1 -> 1000 is 31.6: first reached at 100 (step 30)
    assert mechanism.half_rise(steps, values) == (30.0, pytest.approx(1000.0))
    assert math.isnan(mechanism.half_rise(steps, np.full(6, 3.0))[0])


def test_the_table_and_files(tmp_path: Path) -> None:
    leads = [(60, 100), (80, 100), (100, 100), (120, 100), (40, 90)]  # +40, +20, 0, -20, +50
    for seed, (keep_at, loss_at) in enumerate(leads):
        run = tmp_path / f"run{seed}"
        run.mkdir()
        (run / "results.json").write_text(json.dumps(record(keep_at, loss_at, seed)))
    out = mechanism.write_mechanism(tmp_path, tmp_path / "out")
    assert (tmp_path / "out" / "mechanism.png").stat().st_size > 1000
    rows = [mechanism.events(json.loads((tmp_path / f"run{s}" / "results.json").read_text()))
            for s in range(len(leads))]  # fmt: skip
    import pandas as pd

    table = mechanism.lead_table(pd.DataFrame(rows))
    (row,) = table.to_dict("records")
    assert row["keep: both events"] == 5 and row["keep: lead > 0"] == "3/5"
    assert row["keep: median lead"] == 20
    assert row["keep: sign test p"] == pytest.approx(binomtest(3, 4).pvalue)  # the tie left out
    text = out.read_text()
    assert "| gru | 100 | 5 | 5 | 5 | 20 | 3/5 |" in text
    with pytest.raises(ValueError, match="no run records with diagnostics over training"):
        mechanism.read_records(tmp_path / "out")
