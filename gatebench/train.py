"""Entry point: `python -m gatebench.train` trains one variant on one task (a Hydra app over conf/).

    python -m gatebench.train variant=gru task=copy task.length=200 seed=1
    python -m gatebench.train -m variant=rnn,lstm,gru task=adding task.length=50,100 seed=0,1,2

Compose -> build task, model, data, trainer -> fit -> test -> record. Every run directory gets
metrics.csv (per step) and, written last and atomically, results.json.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from gatebench import runtime
from gatebench.logging_setup import tag_log_lines
from gatebench.plugins import load_plugins
from gatebench.schema import CHECKPOINT_DIR
from gatebench.validation import ConfigError, validate_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
log = logging.getLogger("gatebench")


def fit_and_test(
    cfg: DictConfig, task: Any, model: Any, tracker: Any, loggers: list[Any], progress: Any
) -> tuple[Any, dict[str, float]]:
    """Validate at step 0 (a fresh run), fit (resuming from `ckpt_path`), validate the final
    weights if the last step was not a validation step, test them; return the trainer and the
    test metrics."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from gatebench.build import build_datamodule
    from gatebench.callbacks import StepsPerSecond
    from gatebench.metrics_csv import MetricsCSVLogger
    from gatebench.progress_bar import StepProgressBar, logs_above_bar

    run_dir = Path(cfg.run_dir)
    datamodule = build_datamodule(cfg, task)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR,
        filename="last",  # overwritten at every validation: `ckpt_path=last` resumes from it
        save_top_k=1,
        enable_version_counter=False,
    )
    bar = [StepProgressBar(progress.metric)] if progress.bar else []
    trainer = pl.Trainer(
        **{**OmegaConf.to_container(cfg.trainer), "enable_progress_bar": progress.bar},
        max_epochs=-1,
        check_val_every_n_epoch=None,
        callbacks=[checkpoint, progress, tracker, StepsPerSecond(cfg.trainer.log_every_n_steps),
                   *bar],
        logger=loggers or False,
        default_root_dir=str(run_dir),
    )
    for logger in loggers:
        if isinstance(logger, MetricsCSVLogger):
            logger.attach(trainer)
    test: dict[str, float] = {}
    with logs_above_bar(progress.bar):
        if not runtime.resumes(cfg):  # the learning curve starts at the initial weights
            trainer.validate(model, datamodule=datamodule, verbose=False)
        trainer.fit(model, datamodule=datamodule, ckpt_path=runtime.checkpoint_path(cfg))
        if tracker.final_step != trainer.global_step:
            trainer.validate(model, datamodule=datamodule, verbose=False)
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
    tag_log_lines(cfg.run_name)
    log.info("preparing the run in %s", cfg.run_dir)
    load_plugins(cfg.get("imports"))  # user cells and tasks, in this job's process
    validate_config(cfg)
    runtime.checkpoint_path(cfg)
    run_dir = Path(cfg.run_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    multirun, launcher = runtime.hydra_launch()
    runtime.quiet_lightning()

    import torch

    from gatebench.build import build_task_and_model
    from gatebench.callbacks import SolvedTracker
    from gatebench.loggers import build_loggers, finish_wandb
    from gatebench.model import DivergedError
    from gatebench.progress import run_progress
    from gatebench.records import RESULTS_FILE, write_json_atomic
    from gatebench.run_record import describe, finish_record, start_record

    runtime.quiet_lightning()  # again: importing Lightning resets its loggers' levels
    threads = runtime.resolve_threads(cfg.get("threads"), multirun, launcher)
    if threads is not None:
        torch.set_num_threads(threads)
    record = start_record(cfg, config, run_dir.parent.name if multirun else run_dir.name)
    loggers: list[Any] = []
    trainer, tracker, progress = None, None, None
    status, message = "failed", None
    try:
        task, model = build_task_and_model(cfg)
        describe(record, task, model)
        tracker = SolvedTracker(task)
        run_dir.mkdir(parents=True, exist_ok=True)
        loggers = build_loggers(cfg.get("logger"), run_dir, config)
        progress = run_progress(cfg, record, loggers)
        trainer, record["test"] = fit_and_test(cfg, task, model, tracker, loggers, progress)
        status = "solved" if tracker.steps_to_solve is not None else "finished"
    except ConfigError:
        raise  # bad input: no run, no results.json
    except DivergedError as error:
        status, message = "diverged", str(error)
        log.warning("diverged: %s", error)
    except Exception as error:  # noqa: BLE001 - recorded as `failed`; a sweep must go on
        status, message = "failed", f"{type(error).__name__}: {error}"
        log.exception("failed")
    finish_record(record, status, message, trainer, tracker, time.perf_counter() - started)
    record["backend"] = progress.backend if progress else None  # what `auto` resolved to
    # Every record field but the config (already the run config) goes to the W&B summary, so
    # `gatebench.report --wandb` rebuilds the same rows as from results.json.
    summary = {k: v for k, v in record.items() if k != "config"}
    try:
        finish_wandb(loggers, summary, exit_code=0 if status in ("solved", "finished") else 1)
    finally:
        for logger in loggers:
            logger.finalize(status)
        write_json_atomic(run_dir / RESULTS_FILE, record)
    log.info("%s after %d steps -> %s", status, record["steps"], run_dir)
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
