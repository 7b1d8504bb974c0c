"""Converting a W&B run (config, summary, history) into the report's rows, without a server."""

from __future__ import annotations

import math

import numpy as np

from gatebench.report.records import build_records, row_from_record
from gatebench.report.wandb_source import metrics_from_history, record_from_wandb

RESULTS = {
    "schema_version": 1,
    "run_name": "lstm-adding-T100-s0",
    "launch_id": "2026-11-27_04-10-00",
    "variant": "lstm",
    "variant_options": {"hidden_size": 128, "num_layers": 1},
    "task": {"name": "adding", "params": {"length": 100}},
    "length": 100,
    "seed": 0,
    "status": "solved",
    "message": None,
    "steps": 1200,
    "steps_to_solve": 1100,
    "stopped_by": "solved",
    "metric": "mse",
    "metric_mode": "min",
    "baseline": 0.16667,
    "final": {"val/loss": 0.001, "val/mse": 0.001, "val/norm_loss": 0.006},
    "best": {"val/loss": 0.0009, "val/mse": 0.0009, "val/norm_loss": 0.0054},
    "test": {"test/loss": 0.001, "test/mse": 0.001, "test/norm_loss": 0.006},
    "norm_loss": 0.006,
    "params": 67201,
    "wall_time_s": 41.2,
}
CONFIG = {
    "variant": {"name": "lstm", "hidden_size": 128},
    "task": {"name": "adding", "length": 100},
    "seed": 0,
    "optimizer": {"lr": 0.001},
}


def test_summary_holding_the_record_gives_the_same_row_as_results_json():
    summary = {**RESULTS, "_runtime": 41.0, "_step": 1200, "train/loss": 0.002}
    from_wandb = row_from_record(record_from_wandb(CONFIG, summary, "run"), "w")
    from_disk = row_from_record({**RESULTS, "config": CONFIG}, "w")
    assert from_wandb == from_disk
    assert from_wandb["final_metric"] == 0.001 and from_wandb["config.optimizer.lr"] == 0.001


def test_flat_summary_and_config_groups_fill_the_record():
    """The shape the runner logs today: a few record fields + Lightning's last metric values."""
    summary = {"status": "finished", "metric": "recall_acc", "metric_mode": "max",
               "val/recall_acc": 0.4, "val/norm_loss": 0.9, "val/recall_acc_best": 0.45,
               "test/recall_acc": 0.39, "_timestamp": 1.0}  # fmt: skip
    config = {"variant": {"name": "gru"}, "task": {"name": "copy", "length": 200}, "seed": 3}
    record = record_from_wandb(config, summary, "gru-copy")
    row = row_from_record(record, "wandb:e/p/abc")
    assert (row["variant"], row["task"], row["length"], row["seed"]) == ("gru", "copy", 200, 3)
    assert (row["final_metric"], row["best_metric"], row["test_metric"]) == (0.4, 0.45, 0.39)
    assert row["norm_loss"] == 0.9 and row["run_name"] == "gru-copy"
    labelled = {**config, "variant": {"name": "lstm"}, "variant_label": "lstm_fb1"}
    row = row_from_record(record_from_wandb(labelled, summary), "w")
    assert (row["variant"], row["variant_name"]) == ("lstm_fb1", "lstm")


def test_history_becomes_the_wide_metrics_layout():
    history = [
        {"_step": 0, "trainer/global_step": 10, "train/loss": 0.5, "_runtime": 1.0},
        {"_step": 1, "trainer/global_step": 50, "val/norm_loss": 0.8, "epoch": 0},
        {"_step": 2, "trainer/global_step": 50, "train/loss": 0.4, "note": "text"},
    ]
    wide = metrics_from_history(history)
    assert list(wide["step"]) == [10, 50, 50]
    assert "_runtime" not in wide and "note" not in wide and "_step" not in wide
    np.testing.assert_allclose(wide["train/loss"], [0.5, math.nan, 0.4])
    records = build_records([(record_from_wandb(CONFIG, RESULTS, "r"), "w", wide)])
    curve = records.curves
    assert set(curve["metric"]) == {"train/loss", "val/norm_loss", "epoch"}
    assert curve.loc[curve["metric"] == "val/norm_loss", "step"].tolist() == [50]
    assert metrics_from_history([]).empty
