"""Lightning callback: diagnostics at initialisation, every `every` steps, and at the end.

Writes `<run_dir>/diagnostics.npz` when training ends; `summary()` is what the run record keeps
under `diagnostics`; with a W&B logger, each snapshot's scalars are logged at its step and the
figures of `gatebench.report.diagnostics_plots` as images at the end.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from gatebench.diagnostics.snapshot import Snapshot, fixed_batch, marked_positions, snapshot
from gatebench.diagnostics.store import DIAGNOSTICS_FILE, snapshot_arrays, write_npz_atomic

log = logging.getLogger("gatebench")
COST_WARNING = 0.05  # warn when diagnostics take more than this share of the training time


class GateDiagnostics(pl.Callback):
    """Measure the model on a fixed validation batch (`fixed_batch`) during training."""

    def __init__(
        self, task: Any, run_dir: str | Path, every: int | None = None, batch_size: int = 64
    ) -> None:
        self.task = task
        self.run_dir = Path(run_dir)
        self.every = every
        self.batch = fixed_batch(task, batch_size)
        self.snapshots: list[Snapshot] = []
        self.cost_s = 0.0
        self._train_started: float | None = None
        self.train_s = 0.0
        self.file: Path | None = None

    def _take(self, trainer: pl.Trainer, module: pl.LightningModule, label: str) -> None:
        step = int(trainer.global_step)
        if self.snapshots and self.snapshots[-1].step == step:
            return
        started = time.perf_counter()
        shot = snapshot(module, self.task, self.batch, step, label)
        self.snapshots.append(shot)
        self.cost_s += time.perf_counter() - started
        self._log_wandb(trainer, shot)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._train_started = time.perf_counter()
        if trainer.global_step == 0:
            self._take(trainer, pl_module, "init")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           *args: Any) -> None:
        step = trainer.global_step
        if self.every and step % self.every == 0 and step < (trainer.max_steps or -1):
            self._take(trainer, pl_module, f"step {step}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take(trainer, pl_module, "end")
        if self._train_started is not None:
            self.train_s = time.perf_counter() - self._train_started
        inputs, readout = marked_positions(self.task, self.batch)
        arrays = snapshot_arrays(self.snapshots, inputs.cpu().numpy(), readout.cpu().numpy(),
                                 pl_module.layer.cell)
        self.file = write_npz_atomic(self.run_dir / DIAGNOSTICS_FILE, arrays)
        share = self.cost_s / self.train_s if self.train_s > 0 else 0.0
        if share > COST_WARNING:
            log.warning("diagnostics took %.1f%% of the training time (%.2f s); "
                        "raise diagnostics.every or set diagnostics.enabled=false",
                        100 * share, self.cost_s)
        self._log_wandb_images(trainer)

    def summary(self) -> dict[str, Any]:
        """What results.json keeps under `diagnostics`."""
        return {
            "file": DIAGNOSTICS_FILE if self.file is not None else None,
            "batch_size": int(self.batch[0].shape[0]),
            "batch": "validation stream of seed 0, batch_size sequences",
            "cost_s": round(self.cost_s, 4),
            "train_s": round(self.train_s, 4),
            "snapshots": [s.summary() for s in self.snapshots],
        }

    # -- W&B -------------------------------------------------------------------------------------

    @staticmethod
    def _wandb_loggers(trainer: pl.Trainer) -> list[Any]:
        from pytorch_lightning.loggers import WandbLogger

        return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def _log_wandb(self, trainer: pl.Trainer, shot: Snapshot) -> None:
        loggers = self._wandb_loggers(trainer)
        if not loggers:
            return
        scalars = {}
        for key, value in shot.summary().items():
            if isinstance(value, int | float) and key != "step":
                scalars[f"diagnostics/{key}"] = value
            elif isinstance(value, list):
                scalars.update({f"diagnostics/{key}_{k}": v for k, v in enumerate(value)
                                if v is not None})
        for lg in loggers:
            lg.log_metrics(scalars, step=shot.step)

    def _log_wandb_images(self, trainer: pl.Trainer) -> None:
        loggers = self._wandb_loggers(trainer)
        if not loggers or self.file is None:
            return
        from gatebench.report.diagnostics_plots import run_figures

        paths = run_figures(self.run_dir / DIAGNOSTICS_FILE, self.run_dir)
        for lg in loggers:
            lg.log_image("diagnostics/figures", images=[str(p) for p in paths],
                         step=int(trainer.global_step))


def diagnostics_callbacks(cfg: Any, task: Any) -> list[GateDiagnostics]:
    """[GateDiagnostics] when `cfg.diagnostics.enabled`, else []."""
    diag = cfg.get("diagnostics") or {}
    if not diag.get("enabled", False):
        return []
    if (cfg.get("variant") or {}).get("go_backwards", False):
        log.warning("diagnostics off for this run: a go_backwards layer reads time backwards, and "
                    "the task's marked positions (in time order) would point at the wrong steps")
        return []
    return [GateDiagnostics(task, cfg.run_dir, diag.get("every"), diag.get("batch_size", 64))]


def diagnostics_summary(trainer: Any) -> dict[str, Any] | None:
    """The summary of the trainer's GateDiagnostics callback (None without one)."""
    for callback in getattr(trainer, "callbacks", None) or []:
        if isinstance(callback, GateDiagnostics):
            return callback.summary()
    return None
