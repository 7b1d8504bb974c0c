"""Build a run's loggers from the `logger` config (csv, wandb) and finish W&B runs safely."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.loggers.logger import Logger

from gatebench.run.metrics_csv import MetricsCSVLogger


class StepWandbLogger(WandbLogger):
    """Lightning's WandbLogger whose `trainer/global_step` is `trainer.global_step` once
    `attach(trainer)` is called: the same step as metrics.csv and results.json (Lightning's own
    step counter lags one optimizer step behind at the end of a training batch)."""

    _trainer: Any = None

    def attach(self, trainer: Any) -> None:
        """Take each row's step from `trainer.global_step`."""
        self._trainer = trainer

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._trainer is not None:
            step = self._trainer.global_step
        super().log_metrics(metrics, step)


def as_run(config: dict[str, Any], model: Any) -> dict[str, Any]:
    """The run config as the run ran it: `variant.hidden_size` is the one the model has (the
    one `model.param_budget` chose, not the config's default). For the W&B run's config; the
    record's `config` stays the config as given (a resume compares it)."""
    hidden = getattr(model, "hidden_size", None)
    variant = config.get("variant")
    if hidden is None or not isinstance(variant, dict) or variant.get("hidden_size") == hidden:
        return config
    return {**config, "variant": {**variant, "hidden_size": int(hidden)}}


def build_loggers(
    logger_cfg: Mapping[str, Any] | None,
    run_dir: Path,
    config: dict[str, Any],
    resume_step: int | None = None,
) -> list[Logger]:
    """Loggers named in `logger_cfg`: `csv` -> metrics.csv in `run_dir` (keeping its rows up to
    `resume_step` when resuming); `wandb` -> a StepWandbLogger with its files under
    `run_dir/wandb`, `config` as the run config, and its run started now so that every job has a
    W&B run even if it fails before logging."""
    logger_cfg = dict(logger_cfg or {})
    unknown = set(logger_cfg) - {"csv", "wandb"}
    if unknown:
        raise ValueError(f"logger={sorted(unknown)} is invalid: expected csv, wandb or none")
    loggers: list[Logger] = []
    if "csv" in logger_cfg:
        loggers.append(MetricsCSVLogger(run_dir, resume_step))
    if "wandb" in logger_cfg:
        options = dict(logger_cfg["wandb"] or {})
        options["tags"] = list(options.get("tags") or [])
        options = {k: v for k, v in options.items() if v is not None}
        logger = StepWandbLogger(save_dir=str(run_dir), config=config, **options)
        _ = logger.experiment  # wandb.init now, so failures still get a (finished) W&B run
        loggers.append(logger)
    return loggers


def finish_wandb(loggers: list[Logger], summary: Mapping[str, Any], exit_code: int) -> None:
    """Write `summary` into each W&B run and finish it. Without finish(), the next `wandb.init`
    in this process (a reused joblib worker, an in-process sweep) returns the old run."""
    for logger in loggers:
        if not isinstance(logger, WandbLogger) or logger._experiment is None:
            continue
        run = logger._experiment
        try:
            for key, value in summary.items():
                run.summary[key] = value
        finally:
            run.finish(exit_code=exit_code)
            logger._experiment = None
