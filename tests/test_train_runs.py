"""Runs end to end in-process: the results.json record, statuses, seeding, stop-and-resume."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gatebench.config.validation import ConfigError
from gatebench.run.records import RECORD_KEYS, STATUSES
from gatebench.train import train

ADDING = ["task=adding", "task.length=6"]
DIVERGE = [
    "optimizer=sgd",
    "optimizer.lr=1e30",
    "optimizer.momentum=0",
    "trainer.gradient_clip_val=null",
]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_results_json_holds_the_contract_schema(tiny_config) -> None:
    cfg = tiny_config(*ADDING, "variant=gru", "seed=3", "logger=csv")
    record = train(cfg)
    on_disk = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert set(RECORD_KEYS) <= set(on_disk)
    assert on_disk["schema_version"] == 1 and on_disk["status"] in STATUSES
    assert on_disk["run_name"] == "gru-adding-T6-s3" == cfg.run_name
    assert on_disk["variant"] == "gru" and on_disk["seed"] == 3 and on_disk["length"] == 6
    assert on_disk["variant_options"] == {"hidden_size": 8, "num_layers": 1, "backend": "auto"}
    assert on_disk["task"]["name"] == "adding" and on_disk["task"]["params"]["length"] == 6
    assert on_disk["metric"] == "val/mse" and on_disk["metric_mode"] == "min"
    assert on_disk["baseline"] == pytest.approx(1 / 6)  # Var(U1 + U2), ANCHORS
    assert on_disk["config"] == OmegaConf.to_container(cfg, resolve=True)
    # a GRU layer: 3 gate blocks of W (8x8), R (8x8), b_ih, b_hh; encoder 2->8; readout 8->1
    assert on_disk["recurrent_params"] == 3 * (8 * 8 + 8 * 8 + 8 + 8)
    assert on_disk["params"] == on_disk["recurrent_params"] + (2 * 8 + 8) + (8 + 1)
    assert on_disk["versions"]["torch"] and on_disk["versions"]["pytorch_lightning"]
    assert on_disk["git_commit"]
    assert on_disk["wall_time_s"] > 0 and on_disk["steps"] == 20
    assert set(on_disk["test"]) == {"test/loss", "test/mse", "test/tol_acc", "test/norm_loss"}
    assert on_disk == json.loads(json.dumps(record))


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_config, tmp_path: Path) -> None:
    runs = [
        train(tiny_config(*ADDING, f"seed={seed}", run_dir=tmp_path / f"r{i}"))
        for i, seed in enumerate((0, 0, 1))
    ]
    assert runs[0]["final"] == runs[1]["final"] and runs[0]["test"] == runs[1]["test"]
    assert runs[0]["final"] != runs[2]["final"]


def test_stop_and_resume_ends_with_the_weights_of_a_straight_run(tiny_config, tmp_path) -> None:
    common = [
        *ADDING,
        "variant=lstm",
        "variant.num_layers=2",
        "+variant.dropout=0.5",  # dropout draws from torch's RNG: the checkpoint must carry it
        "logger=csv",
        "optimizer=sgd",
        "optimizer.momentum=0.9",
        "scheduler.name=cosine",
        "scheduler.warmup_steps=4",
        "scheduler.total_steps=20",
    ]
    straight, split = tmp_path / "straight", tmp_path / "split"
    full = train(tiny_config(*common, "trainer.max_steps=20", run_dir=straight))
    half = train(tiny_config(*common, "trainer.max_steps=10", run_dir=split))
    assert half["steps"] == 10
    resumed = train(tiny_config(*common, "trainer.max_steps=20", "ckpt_path=last", run_dir=split))

    assert resumed["steps"] == full["steps"] == 20
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed["final"] == full["final"] and resumed["test"] == full["test"]
    assert [r["step"] for r in _csv_rows(split)] == [r["step"] for r in _csv_rows(straight)]
    # the step-0 validation ran once, in the first part; the resumed part did not repeat it
    val_steps = [int(r["step"]) for r in _csv_rows(split) if r["val/loss"]]
    assert val_steps == [0, 10, 20]


def test_resume_without_a_checkpoint_starts_fresh(tiny_config) -> None:
    record = train(tiny_config(*ADDING, "ckpt_path=last", "trainer.max_steps=10"))
    assert record["status"] == "finished" and record["steps"] == 10


def _solved_at_step_10(tiny_config, tmp_path: Path) -> str:
    """`task.solved_norm_mse=X` with X between the val MSE / baseline of steps 0 and 10 of an
    unsolved run of the same config (its metrics.csv): solved at step 10, not before."""
    cfg = tiny_config(*ADDING, "logger=csv", "trainer.max_steps=10", run_dir=tmp_path / "probe")
    train(cfg)
    norm = {int(r["step"]): float(r["val/norm_loss"]) for r in _csv_rows(Path(cfg.run_dir))
            if r["val/norm_loss"]}
    assert sorted(norm) == [0, 10] and norm[10] < norm[0]
    return f"task.solved_norm_mse={(norm[0] + norm[10]) / 2}"


def test_solved_run_stops_early_and_records_the_step(tiny_config, tmp_path) -> None:
    record = train(tiny_config(*ADDING, _solved_at_step_10(tiny_config, tmp_path)))
    assert record["status"] == "solved"
    assert record["steps_to_solve"] == record["steps"] == 10
    assert record["test"]


def test_initial_weights_that_solve_are_solved_at_step_0(tiny_config) -> None:
    # "solved" once val MSE <= 1000 x the baseline: true of the initial weights already.
    cfg = tiny_config(*ADDING, "task.solved_norm_mse=1000.0", "logger=csv")
    record = train(cfg)
    assert record["status"] == "solved"
    assert record["steps_to_solve"] == record["steps"] == 0
    assert record["final"]["val/norm_loss"] <= 1000.0 and record["test"]
    rows = _csv_rows(Path(cfg.run_dir))
    assert [int(r["step"]) for r in rows if r["val/loss"]] == [0]
    assert not any(r.get("train/loss") for r in rows)  # not one training step


def test_resuming_a_solved_run_keeps_its_step_and_trains_no_further(tiny_config, tmp_path) -> None:
    solved = [_solved_at_step_10(tiny_config, tmp_path), "ckpt_path=last"]  # step 10 of 20
    first = train(tiny_config(*ADDING, *solved))
    again = train(tiny_config(*ADDING, *solved, run_dir=Path(first["run_dir"])))  # a requeue
    assert first["steps_to_solve"] == 10
    assert again["status"] == "solved"
    assert again["steps_to_solve"] == again["steps"] == 10


def test_nan_or_inf_loss_is_recorded_as_diverged(tiny_config) -> None:
    cfg = tiny_config(*ADDING, *DIVERGE, "logger=csv")
    record = train(cfg)  # does not raise: a sweep goes on
    on_disk = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert on_disk["status"] == "diverged" and "non-finite" in on_disk["message"]
    assert on_disk["steps"] < 20
    # its last validation is the step-0 one, of the initial weights: finite, unsolved
    assert record["norm_loss"] == on_disk["final"]["val/norm_loss"] > 1.0


def test_exception_is_recorded_as_failed_with_its_message(tiny_config) -> None:
    cfg = tiny_config(*ADDING, "+trainer.no_such_trainer_option=1")
    train(cfg)
    on_disk = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert on_disk["status"] == "failed" and "no_such_trainer_option" in on_disk["message"]
    assert on_disk["final"] == {} and on_disk["steps"] == 0 and on_disk["norm_loss"] is None


def test_metrics_csv_has_the_logged_metrics(tiny_config) -> None:
    cfg = tiny_config(*ADDING, "logger=csv")
    train(cfg)
    rows = _csv_rows(Path(cfg.run_dir))
    for column in (
        "train/loss",
        "train/grad_norm",
        "train/steps_per_sec",
        "val/loss",
        "val/norm_loss",
        "val/mse",
        "test/mse",
    ):
        values = [float(r[column]) for r in rows if r[column]]
        assert values and all(math.isfinite(v) for v in values), column
    assert [int(r["step"]) for r in rows if r["val/loss"]] == [0, 10, 20]  # 0: initial weights


def test_value_the_task_rejects_is_a_config_error_without_results(tiny_config) -> None:
    cfg = tiny_config("task=adding", "task.length=1")  # passes the runner's check, not the task's
    with pytest.raises(ConfigError, match=r"^task\.length must be an integer >= 2, got 1$"):
        train(cfg)
    assert not (Path(cfg.run_dir) / "results.json").exists()


@pytest.mark.parametrize("variant", ["lstm", "peephole", "fgr"])
def test_bf16_mixed_precision_trains_with_the_default_backend(tiny_config, variant) -> None:
    # Lightning's autocast hands the layer a bf16 input with fp32 weights; the hand-written
    # backends run in float32 then (variants/backends/autocast.py) instead of failing
    record = train(tiny_config(*ADDING, f"variant={variant}", "trainer.precision=bf16-mixed"))
    assert record["status"] == "finished", record["message"]
    assert math.isfinite(record["final"]["val/loss"]) and record["steps"] == 20
