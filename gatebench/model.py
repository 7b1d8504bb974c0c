"""The LightningModule: encoder -> `variants` recurrent layer -> readout -> the task's loss."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

import variants
from gatebench.optim import build_optimizer, build_scheduler

# Keys of the variant config that describe the run rather than the layer.
VARIANT_META_KEYS = ("name", "label")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the run is recorded as `diverged`."""


class SequenceModel(pl.LightningModule):
    """Encode each step (embedding for token tasks, linear for real-valued), run the recurrent
    layer built by `variants.build`, read out at the last step or every step as the task says,
    and score with the task's own `loss` and `metrics`.

    `variant` is the variant config (`name`, `hidden_size`, options for `variants.build`);
    `optimizer` and `scheduler` are the matching config sections (see gatebench.optim).
    """

    def __init__(
        self,
        task: Any,
        variant: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        encoder_size: int | None = None,
    ) -> None:
        super().__init__()
        self.task = task
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler or {})
        options = {k: v for k, v in dict(variant).items() if k not in VARIANT_META_KEYS}
        hidden_size = int(options.pop("hidden_size"))
        width = int(encoder_size or hidden_size)
        if task.input_kind == "tokens":
            self.encoder: nn.Module = nn.Embedding(task.input_size, width)
        else:
            self.encoder = nn.Linear(task.input_size, width)
        self.layer = variants.build(
            variant["name"], width, hidden_size, batch_first=True, **options
        )
        directions = 2 if getattr(self.layer, "bidirectional", False) else 1
        self.readout = nn.Linear(directions * hidden_size, task.output_size)
        self.baseline = float(task.baseline())
        self._eval_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions for a batch-first input: `(n, output_size)` for readout `last`,
        `(n, L, output_size)` for readout `every` (logits for class targets)."""
        output, _ = self.layer(self.encoder(x))
        if self.task.readout == "last":
            output = output[:, -1]
        return self.readout(output)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, mask = batch
        loss = self.task.loss(self(x), y, mask)
        # Reading the loss waits for the device: on an accelerator only at logging steps (a NaN
        # loss poisons the weights, so it is still caught, a few steps later at most).
        if (loss.device.type == "cpu" or self._logging_step()) and not torch.isfinite(loss):
            raise DivergedError(f"non-finite train/loss ({loss.item()}) at step {self.global_step}")
        if self._logging_step():
            self.log("train/loss", loss, on_step=True, on_epoch=False, batch_size=x.shape[0])
        return loss

    def _logging_step(self) -> bool:
        """Whether Lightning writes step metrics now (every `log_every_n_steps`). Logging only
        then gives the same values and saves most of `self.log`'s per-call overhead."""
        trainer = self._trainer
        if trainer is None or trainer.log_every_n_steps < 1:
            return trainer is None
        return (trainer.global_step + 1) % trainer.log_every_n_steps == 0

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the global L2 gradient norm before clipping."""
        if not self._logging_step():
            return
        norms = [p.grad.detach().norm(2) for p in self.parameters() if p.grad is not None]
        if norms:
            total = torch.linalg.vector_norm(torch.stack(norms), 2)
            self.log("train/grad_norm", total, on_step=True, on_epoch=False)

    def _collect(self, batch: tuple[torch.Tensor, ...]) -> None:
        x, y, mask = batch
        self._eval_outputs.append((self(x).detach(), y, mask))

    def _score(self, split: str) -> dict[str, float]:
        """Task metrics over the whole split at once (exact, not a mean of batch means)."""
        pred = torch.cat([p for p, _, _ in self._eval_outputs])
        y = torch.cat([t for _, t, _ in self._eval_outputs])
        mask = torch.cat([m for _, _, m in self._eval_outputs])
        self._eval_outputs.clear()
        metrics = {k: float(v) for k, v in self.task.metrics(pred, y, mask).items()}
        metrics["norm_loss"] = metrics["loss"] / self.baseline
        scored = {f"{split}/{k}": v for k, v in metrics.items()}
        self.log_dict(scored, on_step=False, on_epoch=True)
        return scored

    def on_validation_epoch_start(self) -> None:
        self._eval_outputs.clear()

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        scored = self._score("val")
        if not math.isfinite(scored["val/loss"]):
            raise DivergedError(f"non-finite val/loss at step {self.global_step}")

    def on_test_epoch_start(self) -> None:
        self._eval_outputs.clear()

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._collect(batch)

    def on_test_epoch_end(self) -> None:
        self._score("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep torch's global RNG (dropout masks draw from it) so a resumed run continues the
        same random stream as a straight run; Lightning does not save it."""
        checkpoint["torch_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "torch_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng_state"])

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.optimizer_cfg)
        scheduler = build_scheduler(optimizer, self.scheduler_cfg)
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }
