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
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf

from gatebench.config.plugins import load_plugins
from gatebench.config.validation import ConfigError, validate_config
from gatebench.run import exit_codes, runtime
from gatebench.run.logging_setup import tag_log_lines
from gatebench.run.schema import CHECKPOINT_DIR

if TYPE_CHECKING:
    from gatebench.run.resume import StartPlan

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
log = logging.getLogger("gatebench")


def build_trainer(
    cfg: DictConfig, callbacks: list[Any], loggers: list[Any], progress: Any
) -> Any:
    """The Lightning Trainer: `cfg.trainer` as is, `last.ckpt` written atomically at every
    validation, every logger's step bound to the trainer's optimizer step, and the progress
    callback (a step bar in a terminal, plain lines elsewhere)."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from gatebench.run.checkpoints import AtomicCheckpointIO, FinalCheckpoint
    from gatebench.run.progress_bar import StepProgressBar
    from gatebench.training.callbacks import StepsPerSecond

    checkpoint = ModelCheckpoint(
        dirpath=Path(cfg.run_dir) / CHECKPOINT_DIR,
        filename="last",  # overwritten at every validation: `ckpt_path=last` resumes from it
        save_top_k=1,
        enable_version_counter=False,
    )
    bar = [StepProgressBar(progress.metric)] if progress.bar else []
    trainer = pl.Trainer(
        **{**OmegaConf.to_container(cfg.trainer), "enable_progress_bar": progress.bar},
        max_epochs=-1,
        check_val_every_n_epoch=None,
        callbacks=[checkpoint, FinalCheckpoint(Path(cfg.run_dir) / CHECKPOINT_DIR / "last.ckpt"),
                   progress, *callbacks,
                   StepsPerSecond(cfg.trainer.log_every_n_steps), *bar],
        logger=loggers or False,
        default_root_dir=str(cfg.run_dir),
        plugins=[AtomicCheckpointIO()],
    )
    for logger in loggers:
        if hasattr(logger, "attach"):
            logger.attach(trainer)
    return trainer


def fit_and_test(
    cfg: DictConfig, task: Any, model: Any, trainer: Any, tracker: Any, resume_from: str | None,
    progress: Any,
) -> dict[str, float]:
    """Validate at step 0 (a fresh run), fit (resuming from `resume_from`), validate the final
    weights if the last step was not a validation step, test them; return the test metrics.
    A SIGTERM stops it with `termination.Terminated` (checkpoint saved, see FinalCheckpoint)."""
    from gatebench.config.build import build_datamodule
    from gatebench.run.progress_bar import logs_above_bar
    from gatebench.run.termination import deferred

    datamodule = build_datamodule(cfg, task)
    test: dict[str, float] = {}
    with logs_above_bar(progress.bar):
        if resume_from is None:  # the learning curve starts at the initial weights
            with deferred():
                trainer.validate(model, datamodule=datamodule, verbose=False)
        with deferred():
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        if tracker.final_step != trainer.global_step:
            with deferred():
                trainer.validate(model, datamodule=datamodule, verbose=False)
        if cfg.get("test", True):
            with deferred():
                results = trainer.test(model, datamodule=datamodule, verbose=False)
            test = {k: float(v) for k, v in (results[0] if results else {}).items()}
    return test


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train and evaluate the run `cfg` describes; return its record, also written (last, and
    atomically) to `<run_dir>/results.json`.

    Raises ConfigError, before anything is trained or written, for an invalid value (checked
    here, or a ValueError/TypeError from `tasks.build`/`variants.build`) or a request that cannot
    run here (preflight); RunDirLocked when another process trains in `run_dir`; RunRefused when
    `run_dir` holds a run this config must not touch. A run already final in `run_dir` is
    returned untouched. A NaN/inf loss ends the run as `diverged`, any other exception as
    `failed`: both are recorded and not raised, so a sweep goes on.
    """
    started = time.perf_counter()
    tag_log_lines(cfg.run_name)
    log.info("preparing the run in %s", cfg.run_dir)
    load_plugins(cfg.get("imports"))  # user cells and tasks, in this job's process
    validate_config(cfg)
    runtime.checkpoint_path(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    multirun, launcher = runtime.hydra_launch()
    runtime.quiet_lightning()
    from gatebench.run.lock import RunLock
    from gatebench.run.resume import plan_start

    if multirun:
        _to_same_run(cfg, config)

    with RunLock(cfg.run_dir):
        from gatebench.run.records import remove_stale_temp

        stale = remove_stale_temp(cfg.run_dir)  # safe: the lock says no live process writes
        if stale:
            log.info("removed %d temp files a killed process left: %s", len(stale),
                     ", ".join(p.name for p in stale))
        plan = plan_start(cfg, config, multirun)
        if plan.final_record is not None:
            record = plan.final_record
            log.info("%s: already %s at step %s in %s: nothing to do",
                     cfg.run_name, record.get("status"), record.get("steps"), cfg.run_dir)
            return record
        return _run(cfg, config, plan, started, multirun, launcher)


def _to_same_run(cfg: DictConfig, config: dict[str, Any]) -> None:
    """A sweep job whose config already ran in another job folder (a re-run with its arguments
    in another order) goes on there: `cfg.run_dir` becomes that folder, and its own folder
    says where it went (`same_run_as.txt`)."""
    from gatebench.run.resume import find_same_run
    from gatebench.run.schema import SAME_RUN_FILE

    own = Path(cfg.run_dir)
    same = find_same_run(own, config)
    if same is None:
        return
    log.info("%s: this config's run is in %s (the sweep's arguments were given in another "
             "order): continuing there", cfg.run_name, same)
    if not any((own / name).exists() for name in ("results.json", "checkpoints")):
        (own / SAME_RUN_FILE).write_text(f"{same}\n")
    cfg.run_dir = str(same)
    config["run_dir"] = str(same)


def _run(
    cfg: DictConfig, config: dict[str, Any], plan: StartPlan, started: float, multirun: bool,
    launcher: str | None,
) -> dict[str, Any]:
    """Train in the locked run directory (see `train`)."""
    import torch

    from gatebench.config import preflight
    from gatebench.config.build import build_task_and_model
    from gatebench.diagnostics.callback import diagnostics_callbacks, diagnostics_summary
    from gatebench.run.history import RunHistory, total_wall_time_s
    from gatebench.run.loggers import as_run, build_loggers, finish_wandb
    from gatebench.run.progress import run_progress
    from gatebench.run.record import describe, finish_record, start_record
    from gatebench.run.records import RESULTS_FILE, write_json_atomic
    from gatebench.run.termination import Terminated
    from gatebench.training.callbacks import SolvedTracker
    from gatebench.training.model import DivergedError
    from gatebench.training.plateau import plateau_callback, stopped_by

    runtime.quiet_lightning()  # again: importing Lightning resets its loggers' levels
    threads = runtime.resolve_threads(cfg.get("threads"), multirun, launcher)
    if threads is not None:
        torch.set_num_threads(threads)
    run_dir = Path(cfg.run_dir)
    record = start_record(cfg, config, run_dir.parent.name if multirun else run_dir.name)
    history = RunHistory(config, started, start_step=plan.resume_step or 0)
    history.previous = plan.segments
    loggers: list[Any] = []
    trainer, tracker, progress = None, None, None
    status, message = "failed", None
    try:
        device = preflight.check_accelerator(cfg)
        task, model = build_task_and_model(cfg)
        preflight.check_memory(cfg, model, device)
        describe(record, task, model)
        tracker = SolvedTracker(task)
        loggers = build_loggers(cfg.get("logger"), run_dir, as_run(config, model),
                                plan.resume_step)
        progress = run_progress(cfg, record, loggers)
        callbacks = [tracker, history, *diagnostics_callbacks(cfg, task)]
        plateau = plateau_callback(cfg)
        if plateau is not None:
            callbacks.append(plateau)
        trainer = build_trainer(cfg, callbacks, loggers, progress)
        record["test"] = fit_and_test(
            cfg, task, model, trainer, tracker, plan.resume_from, progress
        )
        status = "solved" if tracker.steps_to_solve is not None else "finished"
    except ConfigError:
        raise  # bad input: no run, no results.json
    except Terminated as stop:  # SIGTERM: not a result; the checkpoint stays, no results.json
        stop.step = trainer.global_step if trainer is not None else plan.resume_step or 0
        for logger in loggers:
            logger.save()
        finish_wandb(loggers, {}, exit_code=exit_codes.TERMINATED)
        raise
    except DivergedError as error:
        status, message = "diverged", str(error)
        log.warning("diverged: %s", error)
    except Exception as error:  # noqa: BLE001 - recorded as `failed`; a sweep must go on
        status, message = "failed", f"{type(error).__name__}: {error}"
        log.exception("failed")
    step = trainer.global_step if trainer is not None else plan.resume_step or 0
    record["segments"] = history.segments(step)
    finish_record(record, status, message, step, tracker, total_wall_time_s(record["segments"]))
    record["stopped_by"] = stopped_by(trainer, record["steps_to_solve"], status)
    record["diagnostics"] = diagnostics_summary(trainer)
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
    why = f" (stopped by {record['stopped_by']})" if record["stopped_by"] else ""
    log.info("%s after %d steps%s -> %s", status, record["steps"], why, run_dir)
    return record


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra task function: train one run; return its final primary metric (for sweepers).
    The process's exit code is set in `gatebench.sweep.job_outcome` (see
    `gatebench.run.exit_codes`)."""
    from gatebench.sweep.job_outcome import run_job

    return run_job(train, cfg)


if __name__ == "__main__":
    from gatebench.run import termination

    termination.install()
    try:
        main()
    except termination.Terminated:  # between jobs (a job's own SIGTERM exits in run_job)
        sys.stderr.write("gatebench: stopped by SIGTERM: no run was left half-recorded; re-run "
                         "the same command to resume\n")
        sys.exit(exit_codes.TERMINATED)
    sys.exit(exit_codes.pending())
