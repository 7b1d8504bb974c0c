"""A real tiny Hydra multirun over a learning-rate axis, with a parameter budget and two test
lengths: the report the callback writes selects on validation and never pools settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

SWEEP = [
    "variant=rnn,gru",
    "optimizer.lr=0.01,0.003",
    "seed=0,1",
    "task=adding",
    "task.length=5",
    "model.param_budget=200",
    "data.test_lengths=[10]",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=10",
    "trainer.val_check_interval=5",
    "trainer.log_every_n_steps=5",
    "threads=1",
    "logger=csv",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("fair_sweep") / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.train", "-m", *SWEEP, f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir


def test_records_carry_the_budget_and_one_block_per_test_length(sweep) -> None:
    records = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    assert len(records) == 8
    for record in records:
        assert record["param_budget"] == 200 and record["test_lengths"] == [5, 10]
        assert set(record["tests"]) == {"5", "10"} and record["test"] == record["tests"]["5"]
        assert record["variant_options"]["hidden_size"] == record["hidden_size"]
    # rnn on adding: 2H^2 + 6H + 1 -> H = 9 (217; H = 8: 177); gru: 6H^2 + 10H + 1 -> H = 5 (201)
    sizes = {r["variant"]: (r["hidden_size"], r["params"]) for r in records}
    assert sizes == {"rnn": (9, 217), "gru": (5, 201)}


def test_callback_report_selects_on_validation_without_pooling(sweep) -> None:
    report = (sweep / "report.md").read_text()
    assert "## Hyperparameter selection" in report
    assert "every variant was given 2 setting(s) of `optimizer.lr`" in report
    assert "## Sensitivity to each hyperparameter" in report
    assert "## Length generalisation" in report
    summary = pd.read_csv(sweep / "summary.csv")
    assert sorted(summary["variant"]) == ["gru", "rnn"]
    assert (summary["n_runs"] == 2).all()  # the selected lr's two seeds, not all four runs
    runs = pd.read_csv(sweep / "runs.csv")
    for variant in ("rnn", "gru"):
        mine = runs[runs["variant"] == variant]
        medians = mine.groupby("config.optimizer.lr")["final_metric"].median()
        best = medians.idxmin()  # adding: val/mse, lower is better
        assert f"optimizer.lr={best:g}" in summary.set_index("variant").loc[variant, "selected"]
