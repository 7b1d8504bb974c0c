"""Runner building blocks: config checks, optimizers and schedule, results.json writer, CSV log."""

from __future__ import annotations

import csv
import json
import math
from importlib import metadata
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.types import RunMode

from gatebench.config.validation import ConfigError, validate_config
from gatebench.run.metrics_csv import MetricsCSVLogger
from gatebench.run.records import check_record, new_record, write_json_atomic
from gatebench.run.runtime import resolve_threads
from gatebench.sweep.progress import count_jobs
from gatebench.training.optim import build_optimizer, build_scheduler


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optimizer.lr=-1", "optimizer.lr"),
        ("optimizer.lr=0", "optimizer.lr"),
        ("task.length=0", "task.length"),
        ("seed=-3", "seed"),
        ("variant.hidden_size=0", "variant.hidden_size"),
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("trainer.val_check_interval=0.5", "trainer.val_check_interval"),
        ("optimizer.weight_decay=-0.1", "optimizer.weight_decay"),
        ("scheduler.name=linear", "scheduler.name"),
        ("data.batch_size=0", "data.batch_size"),
    ],
)
def test_invalid_value_is_one_line_naming_the_key(override: str, key: str, full_config) -> None:
    cfg = full_config(override)
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    message = str(error.value)
    assert message.startswith(f"{key}=") and "expected" in message
    assert "\n" not in message


def test_default_config_is_valid(full_config) -> None:
    validate_config(full_config())
    validate_config(full_config("optimizer=sgd", "logger=wandb", "seed=0"))


def test_optimizers_are_torch_optimizers_with_config_values() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = build_optimizer(params, {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0})
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    adam = build_optimizer(params, {"name": "adam", "lr": 0.01, "betas": [0.8, 0.9]})
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["betas"] == (0.8, 0.9)
    rms = build_optimizer(params, {"name": "rmsprop", "lr": 0.01, "alpha": 0.9})
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["alpha"] == 0.9


def _lrs(scheduler_cfg: dict, steps: int, reference: bool = False) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    if reference:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.05)
    else:
        sched = build_scheduler(opt, scheduler_cfg)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_schedule_equals_torch_cosine_annealing() -> None:
    ours = _lrs({"name": "cosine", "warmup_steps": 0, "total_steps": 40, "min_lr_ratio": 0.1}, 40)
    torchs = _lrs({}, 40, reference=True)
    assert ours == pytest.approx(torchs, rel=1e-6, abs=1e-9)


def test_warmup_is_linear_then_constant() -> None:
    lrs = _lrs({"name": "constant", "warmup_steps": 4, "total_steps": 10}, 8)
    assert lrs == pytest.approx([0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), {}) is None


def test_results_json_is_atomic_and_strict_json(tmp_path: Path) -> None:
    record = new_record(status="diverged", norm_loss=math.nan, best={"val/loss": math.inf})
    check_record(record)
    path = write_json_atomic(tmp_path / "run" / "results.json", record)
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left
    loaded = json.loads(path.read_text())  # strict: NaN/inf were written as null
    assert loaded["norm_loss"] is None and loaded["best"] == {"val/loss": None}
    assert loaded["versions"]["torch"] == metadata.version("torch")
    with pytest.raises(ValueError, match="status"):
        check_record(new_record(status="ok"))


def test_metrics_csv_is_wide_and_keeps_rows_before_a_resume(tmp_path: Path) -> None:
    first = MetricsCSVLogger(tmp_path)
    for step in (5, 10, 15):
        first.log_metrics({"train/loss": 1.0 / step, "epoch": 0}, step=step)
    first.log_metrics({"val/loss": 0.5}, step=10)
    first.finalize("success")
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("7,0.3")  # a torn last line (killed mid-write): dropped, though its step is < 10
    resumed = MetricsCSVLogger(tmp_path, resume_step=10)  # resumed from the step-10 checkpoint
    resumed.log_metrics({"train/loss": 0.2}, step=15)
    resumed.log_metrics({"train/grad_norm": 3.0}, step=20)
    resumed.finalize("success")
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "train/grad_norm", "train/loss", "val/loss"]
    assert [int(r["step"]) for r in rows] == [5, 10, 10, 15, 20]
    assert rows[3]["train/loss"] == "0.2" and rows[2]["val/loss"] == "0.5"
    assert rows[0]["val/loss"] == ""
    fresh = MetricsCSVLogger(tmp_path)  # a fresh run in the same folder replaces the file
    fresh.log_metrics({"train/loss": 0.9}, step=5)
    fresh.finalize("success")
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert [r["train/loss"] for r in csv.DictReader(f)] == ["0.9"]


def test_threads_default_to_one_only_under_local_parallel_launchers() -> None:
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    local = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    slurm = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert resolve_threads(None, True, joblib) == 1
    assert resolve_threads(None, True, local) == 1
    assert resolve_threads(None, True, slurm) is None
    assert resolve_threads(None, False, None) is None
    assert resolve_threads(3, True, joblib) == 3


def test_experiment_quickstart_sweeps_five_cells_two_seeds_two_at_a_time() -> None:
    conf = Path(__file__).resolve().parent.parent / "conf"
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        cfg = compose("train", overrides=["experiment=quickstart"], return_hydra_config=True)
    assert cfg.task.name == "adding" and cfg.task.length == 50
    assert cfg.hydra.mode == RunMode.MULTIRUN
    assert cfg.hydra.sweeper.params == {"variant": "rnn,lstm,peephole,cifg,gru", "seed": "0,1"}
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert set(cfg.hydra.callbacks) == {"exit_status", "report", "run_location", "sweep_progress"}
    assert count_jobs(cfg) == 5 * 2  # the total the sweep progress lines count down from


@pytest.mark.parametrize(
    ("launcher", "target"), [("local", "JoblibLauncher"), ("slurm", "SlurmLauncher")]
)
def test_launcher_configs_extend_the_plugins(launcher: str, target: str) -> None:
    conf = Path(__file__).resolve().parent.parent / "conf"
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
