"""Resume never destroys what a run wrote (issue 12, items 1, 5, 6, 9): in-process runs."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest
import torch

from gatebench.run.checkpoints import CheckpointError
from gatebench.run.resume import RunRefused
from gatebench.train import train

ADDING = ["task=adding", "task.length=6", "logger=csv"]
FILES = ("results.json", "metrics.csv", "checkpoints/last.ckpt")


def _bytes(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in FILES}


def test_resuming_a_finished_run_changes_none_of_its_files(tiny_config) -> None:
    first = train(tiny_config(*ADDING, "ckpt_path=last"))
    run_dir = Path(first["run_dir"])
    before = _bytes(run_dir)
    again = train(tiny_config(*ADDING, "ckpt_path=last", "threads=2"))  # a requeue, 2 threads
    assert _bytes(run_dir) == before
    assert again == first and again["status"] == "finished" and again["steps"] == 20


def test_fresh_run_into_a_folder_holding_a_run_is_refused(tiny_config) -> None:
    first = train(tiny_config(*ADDING))
    before = _bytes(Path(first["run_dir"]))
    with pytest.raises(RunRefused, match=r"already holds a run \(results.json, last.ckpt\)"):
        train(tiny_config(*ADDING))  # ckpt_path=null
    assert _bytes(Path(first["run_dir"])) == before


def test_resume_with_a_changed_config_is_refused_naming_the_key(tiny_config) -> None:
    first = train(tiny_config(*ADDING, "trainer.max_steps=10"))
    before = _bytes(Path(first["run_dir"]))
    with pytest.raises(RunRefused, match=r"^optimizer\.lr=0\.5 differs from the run already in"):
        train(tiny_config(*ADDING, "optimizer.lr=0.5", "ckpt_path=last"))
    assert _bytes(Path(first["run_dir"])) == before


def test_extended_run_appends_rows_after_the_checkpoint_and_sums_wall_time(tiny_config) -> None:
    half = train(tiny_config(*ADDING, "trainer.max_steps=10"))
    run_dir = Path(half["run_dir"])
    with open(run_dir / "metrics.csv", newline="") as f:
        old_rows = [r for r in csv.DictReader(f) if not r.get("test/loss")]
    full = train(tiny_config(*ADDING, "trainer.max_steps=20", "ckpt_path=last"))
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [{k: v for k, v in r.items() if k in old_rows[0]} for r in rows[: len(old_rows)]]
    assert kept == old_rows  # the first process's rows (but its test row) byte for byte
    assert all(int(r["step"]) > 10 for r in rows[len(old_rows) :])  # then only new steps
    assert [s["steps"] for s in full["segments"]] == [[0, 10], [10, 20]]
    assert full["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in full["segments"]))
    assert full["segments"][0]["wall_time_s"] <= half["wall_time_s"] < full["wall_time_s"]


def test_diverged_run_records_the_step_it_reached(tiny_config) -> None:
    # SGD with lr 3 and momentum 0.9, unclipped: checkpoint at step 10, inf loss at step 15
    diverge = ["optimizer=sgd", "optimizer.lr=3", "optimizer.momentum=0.9",
               "trainer.gradient_clip_val=null", "trainer.max_steps=60"]  # fmt: skip
    record = train(tiny_config(*ADDING, *diverge))
    ckpt = torch.load(Path(record["run_dir"]) / FILES[2], weights_only=False)
    reached = int(record["message"].rsplit("at step ", 1)[1])
    assert record["status"] == "diverged" and ckpt["global_step"] == 10
    assert record["steps"] == reached > ckpt["global_step"]


def test_corrupt_checkpoint_fails_with_one_line_naming_it(tiny_config) -> None:
    first = train(tiny_config(*ADDING, "trainer.max_steps=10"))
    ckpt = Path(first["run_dir"]) / FILES[2]
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # truncated
    with pytest.raises(CheckpointError) as error:
        train(tiny_config(*ADDING, "trainer.max_steps=20", "ckpt_path=last"))
    message = str(error.value)
    assert "\n" not in message and str(ckpt) in message and "start afresh" in message
    assert json.loads((Path(first["run_dir"]) / "results.json").read_text()) == first


def test_results_json_has_the_mode_of_the_other_files(tiny_config) -> None:
    record = train(tiny_config(*ADDING))
    run_dir = Path(record["run_dir"])
    modes = {n: stat.S_IMODE((run_dir / n).stat().st_mode) for n in FILES}
    assert modes["results.json"] == modes["metrics.csv"] == modes["checkpoints/last.ckpt"]


def test_wandb_step_equals_metrics_csv_step(tiny_config, monkeypatch) -> None:
    from test_train_wandb import read_wandb_records

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    record = train(tiny_config("task=adding", "task.length=6", "logger=wandb"))
    run_dir = Path(record["run_dir"])
    (log,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    logged = []
    for r in read_wandb_records(log):
        if r.WhichOneof("record_type") == "history":
            items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                     for i in r.history.item}  # fmt: skip
            if "train/loss" in items:
                logged.append((items["trainer/global_step"], items["train/loss"]))
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = [(int(r["step"]), float(r["train/loss"]))
                for r in csv.DictReader(f) if r["train/loss"]]  # fmt: skip
    assert logged and logged == rows


def test_a_multirun_job_finding_its_checkpoint_resumes_without_ckpt_path(tiny_config) -> None:
    from omegaconf import OmegaConf

    from gatebench.run.resume import plan_start

    first = train(tiny_config(*ADDING, "trainer.max_steps=10", "scheduler.total_steps=20"))
    run_dir = Path(first["run_dir"])
    (run_dir / "results.json").unlink()  # as if killed after its step-10 checkpoint
    cfg = tiny_config(*ADDING, "trainer.max_steps=20", "scheduler.total_steps=20")
    config = OmegaConf.to_container(cfg, resolve=True)
    plan = plan_start(cfg, config, multirun=True)  # a re-run sweep: ckpt_path is null
    assert plan.resume_from == str(run_dir / FILES[2]) and plan.resume_step == 10
    assert [s["steps"] for s in plan.segments] == [[0, 10]]
    with pytest.raises(RunRefused, match="already holds a run"):
        plan_start(cfg, config, multirun=False)  # a single run must ask with ckpt_path=last
