"""How far a run is: the start line, plain progress lines with step/total and ETA, `resumed from
step N`, and where the checkpoint is when Ctrl-C stops the run (the terminal bar:
`gatebench.run.progress_bar`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from gatebench.run.checkpoints import CheckpointError, load_checkpoint
from gatebench.run.progress_text import duration, hydra_value, resume_command, use_bar

__all__ = ["RunProgress", "duration", "hydra_value", "resume_command", "run_progress", "use_bar",
           "wandb_location"]

log = logging.getLogger("gatebench")


def wandb_location(loggers: list[Any]) -> str | None:
    """The W&B run's URL (online) or its offline directory (for `wandb sync`), if any."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            run = logger._experiment
            url = getattr(run, "url", None)
            if url:
                return f"W&B {url}"
            sync_dir = getattr(getattr(run, "settings", None), "sync_dir", None)
            return f"W&B offline {sync_dir}" if sync_dir else None
    return None


class RunProgress(pl.Callback):
    """Says what a run does: one start line (run name, backend `auto` resolved to, parameters,
    threads, run directory, W&B run), `resumed from step N`, after every validation
    `step 300/2000 (15%), 41.2 steps/s, ETA 41s: val/...`, and without a bar a training line at
    least every `every_s` seconds. Keeps the backend that ran training, for the run record."""

    def __init__(
        self, start: dict[str, Any], metric: str, every_s: float, resume: str, bar: bool
    ) -> None:
        self.start = start
        self.metric = metric
        self.every_s = float(every_s)
        self.resume = resume
        self.bar = bar
        self.backend: str | None = None
        self._announced = False
        self._t0: float | None = None
        self._step0 = 0
        self._last_line = time.perf_counter()

    # ---- the start line ----------------------------------------------------------------------
    def _announce(self, pl_module: pl.LightningModule) -> None:
        if self._announced:
            return
        self._announced = True
        layer = pl_module.layer
        was_training = layer.training
        layer.train()  # the backend that trains (recurrent dropout runs `reference` in training)
        self.backend = layer.planned_backend()
        layer.train(was_training)
        s = self.start
        chosen = f"backend {self.backend}" + (" (auto)" if layer.backend == "auto" else "")
        parts = [
            f"start: {s['variant']} on {s['task']} T={s['length']}, seed {s['seed']}",
            chosen,
            f"{s['params']:,} parameters ({s['recurrent_params']:,} recurrent)",
            f"{s['threads']} torch threads on {pl_module.device}",
            f"{s['max_steps']} steps, validation every {s['val_every']}",
            f"run dir {s['run_dir']}",
        ]
        if s.get("wandb"):
            parts.append(s["wandb"])
        log.info("; ".join(parts))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._announce(pl_module)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._announce(pl_module)  # the step-0 validation runs before fit

    # ---- progress ----------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0, self._step0 = time.perf_counter(), trainer.global_step
        self._last_line = self._t0
        if trainer.global_step > 0:
            log.info("resumed from step %d (%s)", trainer.global_step, trainer.ckpt_path)

    def _where(self, trainer: pl.Trainer) -> str:
        step, total = trainer.global_step, trainer.max_steps
        text = f"step {step}/{total} ({100 * step / total:.0f}%)"
        if self._t0 is None or step <= self._step0:
            return text + ", ETA ?"
        rate = (step - self._step0) / (time.perf_counter() - self._t0)
        return text + f", {rate:.3g} steps/s, ETA {duration((total - step) / rate)}"

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        if self.backend is None or not self._announced or self._t0 is None:
            return
        if getattr(pl_module.layer, "resolved_backend", None):
            self.backend = pl_module.layer.resolved_backend  # what training actually ran
        now = time.perf_counter()
        if self.bar or now - self._last_line < self.every_s:
            return
        self._last_line = now
        loss = trainer.callback_metrics.get("train/loss")
        tail = f": train/loss={float(loss):.4g}" if loss is not None else ""
        log.info("%s%s", self._where(trainer), tail)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if not metrics:
            return
        self._last_line = time.perf_counter()
        values = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
        log.info("%s: %s", self._where(trainer), values)

    # ---- Ctrl-C -------------------------------------------------------------------------------
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            return
        checkpoint = Path(self.start["run_dir"]) / "checkpoints" / "last.ckpt"
        if checkpoint.is_file():
            # the step the file holds, read from it: Ctrl-C during a save leaves the previous
            # file (the save is atomic) though the save had begun
            try:
                at = f" (step {load_checkpoint(checkpoint)['global_step']})"
            except CheckpointError:
                at = " (unreadable)"
            saved = f"last checkpoint {checkpoint}{at}"
        else:
            saved = "no checkpoint yet (one is written at every validation)"
        log.warning(
            "interrupted at step %d: %s; resume with: %s", trainer.global_step, saved, self.resume
        )


def run_progress(cfg: Any, record: dict[str, Any], loggers: list[Any]) -> RunProgress:
    """The run's RunProgress from its config and its (described) record."""
    from hydra.core.hydra_config import HydraConfig

    from gatebench.run import runtime

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    start = {
        key: record.get(key)
        for key in ("run_name", "variant", "length", "seed", "params", "recurrent_params")
    }
    start.update(
        task=record["task"]["name"],
        threads=record["torch_threads"],
        max_steps=cfg.trainer.max_steps,
        val_every=cfg.trainer.val_check_interval,
        run_dir=cfg.run_dir,
        wandb=wandb_location(loggers),
    )
    return RunProgress(
        start,
        record["metric"],
        cfg.get("progress_every_s", 30),
        resume_command(Path(cfg.run_dir), overrides),
        use_bar(cfg.trainer.get("enable_progress_bar"), parallel=runtime.local_parallel()),
    )
