"""The terminal bar of a run: Lightning's TQDM bar counting optimizer steps to `max_steps`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar


def _short(value: Any) -> str:
    return f"{float(value):.3g}"


class StepProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar over optimizer steps (0..max_steps, not batches of an epoch), with
    steps/s, ETA, the latest `train/loss` and the last validation's headline metric and
    `norm_loss`."""

    def __init__(self, metric: str) -> None:
        super().__init__(refresh_rate=1)
        self.metric = metric

    def on_train_start(self, trainer: pl.Trainer, *_: Any) -> None:
        bar = self.init_train_tqdm()
        bar.reset(total=trainer.max_steps)
        bar.unit = "step"
        bar.initial = bar.n = bar.last_print_n = trainer.global_step
        bar.set_description("train")
        self.train_progress_bar = bar

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        """One bar for the whole run: epochs mean nothing on an endless stream of batches."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """See `on_train_epoch_start`."""

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=True)

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        found = trainer.callback_metrics
        headline = self.metric.removeprefix("val/")
        shown = {
            "loss": found.get("train/loss"),
            headline if headline != "loss" else "val_loss": found.get(self.metric),
            "norm_loss": found.get("val/norm_loss"),
        }
        return {k: _short(v) for k, v in shown.items() if v is not None}


@contextlib.contextmanager
def logs_above_bar(bar: bool) -> Iterator[None]:
    """With a bar, send console log lines through tqdm.write so they print above it."""
    if not bar:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger()]):
        yield
