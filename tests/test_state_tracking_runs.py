"""State tracking through the real runner: an LSTM learns parity on a length curriculum, is
tested beyond it, and the report's length table shows the score beyond the training range."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gatebench.report import load_runs
from gatebench.report.__main__ import main as report_main
from gatebench.report.generalisation import generalisation_table
from gatebench.train import train

PARITY = [
    "variant=lstm", "task=parity", "task.length=4", "task.min_length=1", "task.solved_acc=1.0",
    "variant.hidden_size=16", "data.batch_size=32", "optimizer.lr=0.01",
    "trainer.max_steps=400", "trainer.val_check_interval=50", "data.val_size=128",
    "data.test_size=128", "data.test_lengths=[8,16]", "diagnostics.enabled=false", "logger=csv",
]  # fmt: skip


def test_lstm_learns_parity_on_a_curriculum_and_the_length_table_scores_beyond_it(
    tiny_config, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    records = [
        train(tiny_config(*PARITY, f"seed={seed}", run_dir=sweep / f"{seed}_parity"))
        for seed in (1, 2)
    ]
    for record in records:
        # Chance is 1/2 at every length (ln 2 loss); the LSTM gets every sequence right at the
        # longest training length (the paper: LSTMs solve parity).
        assert record["status"] == "solved" and record["final"]["val/acc"] == 1.0
        assert record["test_lengths"] == [4, 8, 16]
        assert record["test_baselines"]["16"] == pytest.approx(np.log(2))
        assert record["tests"]["4"]["test/acc"] == 1.0
        assert record["config"]["task"]["min_length"] == 1
    saved = json.loads((sweep / "1_parity" / "results.json").read_text())
    assert saved["tests"] == records[0]["tests"]

    table = generalisation_table(load_runs([sweep]).runs)
    assert sorted(table["test_length"]) == [4, 8, 16]
    per_run = [np.mean([r["tests"][n]["test/acc"] for n in ("8", "16")]) for r in records]
    # the score beyond T = 4: each run's mean over 8 and 16, median and range over the runs
    assert table["beyond_median"].iloc[0] == pytest.approx(np.median(per_run))
    assert table["beyond_low"].iloc[0] == pytest.approx(min(per_run))
    assert table["beyond_high"].iloc[0] == pytest.approx(max(per_run))
    out = tmp_path / "report"
    assert report_main([str(sweep), "--out", str(out), "--no-plots"]) == 0
    text = (out / "report.md").read_text()
    assert "### parity, trained at T = 4" in text and "| mean L > T" in text
