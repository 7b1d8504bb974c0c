"""Lightning callbacks of a run: stop when solved, track best/final metrics, steps per second."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pytorch_lightning as pl

log = logging.getLogger("gatebench")


def _floats(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k.startswith(prefix)}


class SolvedTracker(pl.Callback):
    """After each validation: keep the final and best `val/*` metrics, ask `task.solved` and, once
    it says yes, stop training and record the step (Greff et al. style "steps to solve")."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.metric = f"val/{task.primary_metric}"
        self.mode = task.primary_mode
        self.final: dict[str, float] = {}
        self.best: dict[str, float] = {}
        self.final_step: int | None = None
        self.steps_to_solve: int | None = None

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.metric not in self.best:
            return True
        best = self.best[self.metric]
        return value < best if self.mode == "min" else value > best

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = _floats(trainer.callback_metrics, "val/")
        if not metrics:
            return
        step = trainer.global_step
        self.final, self.final_step = metrics, step
        if self._better(metrics.get(self.metric, math.nan)):
            self.best = metrics
        unprefixed = {k.removeprefix("val/"): v for k, v in metrics.items()}
        if self.steps_to_solve is None and self.task.solved(unprefixed):
            self.steps_to_solve = step
            trainer.should_stop = True
            value = metrics.get(self.metric, math.nan)
            log.info("solved at step %d (%s=%.4g)", step, self.metric, value)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.steps_to_solve is not None:  # resumed from the checkpoint written when solved
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "final": self.final,
            "best": self.best,
            "final_step": self.final_step,
            "steps_to_solve": self.steps_to_solve,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.final = dict(state_dict.get("final", {}))
        self.best = dict(state_dict.get("best", {}))
        self.final_step = state_dict.get("final_step")
        self.steps_to_solve = state_dict.get("steps_to_solve")


class StepsPerSecond(pl.Callback):
    """Log `train/steps_per_sec`, the optimizer steps per wall-clock second since the last log."""

    def __init__(self, every_n_steps: int = 10) -> None:
        self.every_n_steps = max(1, int(every_n_steps))
        self._t0: float | None = None
        self._step0 = 0
        self._paused_at: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0, self._step0 = time.perf_counter(), trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        steps = trainer.global_step - self._step0
        if self._t0 is None or steps < self.every_n_steps:
            return
        now = time.perf_counter()
        pl_module.log("train/steps_per_sec", steps / (now - self._t0), on_step=True)
        self._t0, self._step0 = now, trainer.global_step

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._paused_at = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._t0 is not None and self._paused_at is not None:
            self._t0 += time.perf_counter() - self._paused_at  # validation is not training time
        self._paused_at = None
