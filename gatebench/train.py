"""Entry point: `python -m gatebench.train` trains one variant on one task (a Hydra app over conf/).

    python -m gatebench.train variant=gru task=copy task.length=200 seed=1
    python -m gatebench.train -m variant=rnn,lstm,gru task=adding task.length=50,100 seed=0,1,2

Every run directory gets metrics.csv (per step) and, written last and atomically, results.json.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from gatebench.validation import ConfigError, validate_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKPOINT_DIR = "checkpoints"
log = logging.getLogger("gatebench")

# Lightning advice that does not apply here: data is generated in-process (no workers), the run
# directory already holds Hydra's files, and steps (not epochs) drive training.
_QUIET_WARNINGS = (
    r".*does not have many workers.*",
    r".*exists and is not empty.*",
    r".*smaller than the logging interval.*",
    r".*is set, but there is no last checkpoint available.*",
    r".*isinstance\(treespec, LeafSpec\).*",
)


def _hydra_launch() -> tuple[bool, str | None]:
    """(is this job part of a multirun, the launcher's _target_) -- (False, None) outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return False, None
    hydra_cfg = HydraConfig.get()
    target = OmegaConf.select(hydra_cfg, "launcher._target_", default=None)
    return hydra_cfg.mode == RunMode.MULTIRUN, target


def resolve_threads(threads: int | None, multirun: bool, launcher: str | None) -> int | None:
    """Torch threads for this job: `threads` if set; 1 when a launcher runs jobs side by side on
    this machine (joblib, submitit local), since many small matmuls on a few shared cores run
    slower with more threads; otherwise None (keep torch's default)."""
    if threads is not None:
        return int(threads)
    local_parallel = launcher is not None and ("joblib" in launcher or "LocalLauncher" in launcher)
    return 1 if multirun and local_parallel else None


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def _config_error(group: str, node: DictConfig, error: Exception) -> ConfigError:
    """Restate a build error as `<group>.<key> ...` when it starts with one of the node's keys."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    message = message.removeprefix(f"{node.name}: ")
    first = message.split(" ", 1)[0].rstrip(":=")
    if first in node and first != "name":
        return ConfigError(f"{group}.{message}")
    return ConfigError(f"{group}={node.name}: {message}")


def _build(cfg: DictConfig) -> tuple[Any, Any]:
    """The task and the model; a ValueError/TypeError from either is a config error."""
    import pytorch_lightning as pl

    import tasks
    from gatebench.model import SequenceModel

    task_params = {k: v for k, v in OmegaConf.to_container(cfg.task).items() if k != "name"}
    try:
        task = tasks.build(cfg.task.name, **task_params)
    except (ValueError, TypeError) as error:
        raise _config_error("task", cfg.task, error) from error
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    try:
        model = SequenceModel(
            task,
            OmegaConf.to_container(cfg.variant),
            OmegaConf.to_container(cfg.optimizer),
            OmegaConf.to_container(cfg.scheduler) if "scheduler" in cfg else None,
            encoder_size=OmegaConf.select(cfg, "model.encoder_size", default=None),
        )
    except (ValueError, TypeError) as error:
        raise _config_error("variant", cfg.variant, error) from error
    return task, model


def _ckpt_path(cfg: DictConfig) -> str | None:
    path = cfg.get("ckpt_path")
    if path is None or path == "last":
        return path  # "last": Lightning finds <run_dir>/checkpoints/last.ckpt (fresh start if none)
    if not Path(path).is_file():
        raise ConfigError(f"ckpt_path={path!r} is invalid: expected null, 'last' or a file")
    return str(path)


def _start_record(cfg: DictConfig, config: dict[str, Any], launch_id: str) -> dict[str, Any]:
    """The run's record with everything the config alone says (the rest is filled in later)."""
    import torch

    from gatebench.records import new_record

    options = {k: v for k, v in config["variant"].items() if k not in ("name", "label")}
    if cfg.variant_label != cfg.variant.name:
        options["cell"] = cfg.variant.name  # a preset: keep the registry name of its cell
    return new_record(
        run_name=cfg.run_name,
        launch_id=launch_id,
        variant=cfg.variant_label,
        variant_options=options,
        task={
            "name": cfg.task.name,
            "params": {k: v for k, v in config["task"].items() if k != "name"},
        },
        length=cfg.task.length,
        seed=cfg.seed,
        config=config,
        run_dir=str(cfg.run_dir),
        host=socket.gethostname(),
        pid=os.getpid(),
        torch_threads=torch.get_num_threads(),
    )


def _describe(record: dict[str, Any], task: Any, model: Any) -> None:
    """Fill in what only the built task and model know."""
    import variants

    record.update(
        task={"name": task.name, "params": dict(task.params)},
        length=task.length,
        metric=f"val/{task.primary_metric}",
        metric_mode=task.primary_mode,
        baseline=float(task.baseline()),
        params=variants.count_parameters(model),
        recurrent_params=variants.count_parameters(model.layer),
    )


def _fit_and_test(
    cfg: DictConfig, task: Any, model: Any, tracker: Any, loggers: list[Any]
) -> tuple[Any, dict[str, float]]:
    """Fit (resuming from `ckpt_path`), validate the final weights if the last step was not a
    validation step, test them; return the trainer and the test metrics."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    import tasks
    from gatebench.callbacks import StepsPerSecond
    from gatebench.diagnostics.callback import diagnostics_callbacks
    from gatebench.metrics_csv import MetricsCSVLogger

    run_dir = Path(cfg.run_dir)
    data = cfg.data
    datamodule = tasks.TaskDataModule(
        task,
        batch_size=data.batch_size,
        val_size=data.val_size,
        test_size=data.test_size,
        seed=cfg.seed,
        train_size=data.get("train_size"),
        test_length=data.get("test_length"),
    )
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR,
        filename="last",  # overwritten at every validation: `ckpt_path=last` resumes from it
        save_top_k=1,
        enable_version_counter=False,
    )
    trainer = pl.Trainer(
        **OmegaConf.to_container(cfg.trainer),
        max_epochs=-1,
        check_val_every_n_epoch=None,
        callbacks=[checkpoint, tracker, StepsPerSecond(cfg.trainer.log_every_n_steps),
                   *diagnostics_callbacks(cfg, task)],
        logger=loggers or False,
        default_root_dir=str(run_dir),
    )
    for logger in loggers:
        if isinstance(logger, MetricsCSVLogger):
            logger.attach(trainer)
    trainer.fit(model, datamodule=datamodule, ckpt_path=_ckpt_path(cfg))
    if tracker.final_step != trainer.global_step:
        trainer.validate(model, datamodule=datamodule, verbose=False)
    test: dict[str, float] = {}
    if cfg.get("test", True):
        results = trainer.test(model, datamodule=datamodule, verbose=False)
        test = {k: float(v) for k, v in (results[0] if results else {}).items()}
    return trainer, test


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train and evaluate the run `cfg` describes; return its record, also written (last, and
    atomically) to `<run_dir>/results.json`.

    Raises ConfigError, before anything is trained or written, for an invalid value (checked
    here, or a ValueError/TypeError from `tasks.build`/`variants.build`). A NaN/inf loss ends the
    run as `diverged`, any other exception as `failed`: both are recorded and not raised, so a
    sweep goes on.
    """
    started = time.perf_counter()
    validate_config(cfg)
    _ckpt_path(cfg)
    run_dir = Path(cfg.run_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    multirun, launcher = _hydra_launch()
    _quiet_lightning()

    import torch

    from gatebench.callbacks import SolvedTracker
    from gatebench.diagnostics.callback import diagnostics_summary
    from gatebench.loggers import build_loggers, finish_wandb
    from gatebench.model import DivergedError
    from gatebench.records import RESULTS_FILE, write_json_atomic

    _quiet_lightning()  # again: importing Lightning resets its loggers' levels
    threads = resolve_threads(cfg.get("threads"), multirun, launcher)
    if threads is not None:
        torch.set_num_threads(threads)
    record = _start_record(cfg, config, run_dir.parent.name if multirun else run_dir.name)
    loggers: list[Any] = []
    trainer, tracker = None, None
    status, message = "failed", None
    try:
        task, model = _build(cfg)
        _describe(record, task, model)
        tracker = SolvedTracker(task)
        run_dir.mkdir(parents=True, exist_ok=True)
        loggers = build_loggers(cfg.get("logger"), run_dir, config)
        trainer, record["test"] = _fit_and_test(cfg, task, model, tracker, loggers)
        status = "solved" if tracker.steps_to_solve is not None else "finished"
    except ConfigError:
        raise  # bad input: no run, no results.json
    except DivergedError as error:
        status, message = "diverged", str(error)
        log.warning("%s: diverged: %s", cfg.run_name, error)
    except Exception as error:  # noqa: BLE001 - recorded as `failed`; a sweep must go on
        status, message = "failed", f"{type(error).__name__}: {error}"
        log.exception("%s: failed", cfg.run_name)
    record.update(
        status=status,
        message=message,
        steps=trainer.global_step if trainer is not None else 0,
        steps_to_solve=tracker.steps_to_solve if tracker else None,
        final=tracker.final if tracker else {},
        best=tracker.best if tracker else {},
        norm_loss=tracker.final.get("val/norm_loss") if tracker else None,
        wall_time_s=round(time.perf_counter() - started, 3),
        diagnostics=diagnostics_summary(trainer),
    )
    # Every record field but the config (already the run config) goes to the W&B summary, so
    # `gatebench.report --wandb` rebuilds the same rows as from results.json.
    summary = {k: v for k, v in record.items() if k != "config"}
    try:
        finish_wandb(loggers, summary, exit_code=0 if status in ("solved", "finished") else 1)
    finally:
        for logger in loggers:
            logger.finalize(status)
        write_json_atomic(run_dir / RESULTS_FILE, record)
    log.info("%s: %s after %d steps -> %s", cfg.run_name, status, record["steps"], run_dir)
    return record


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra task function: train one run; return its final primary metric (for sweepers)."""
    try:
        record = train(cfg)
    except ConfigError as error:
        sys.exit(f"gatebench: error: {error}")
    return record["final"].get(record["metric"])


if __name__ == "__main__":
    main()
