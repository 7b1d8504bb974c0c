"""The LightningModule: encoder -> `variants` recurrent layer -> readout -> the task's loss."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

import variants
from gatebench.training.clipping import clip_grad_norm
from gatebench.training.optim import build_optimizer, build_scheduler

# Keys of the variant config that describe the run rather than the layer.
VARIANT_META_KEYS = ("name", "label")


def readout_rule(task: Any, layer: Any) -> str:
    """Which outputs of `layer` the task's readout (`last` | `every`) sees; results.json keeps it
    as `readout`. `last`: the last step. `last_bidirectional`: the forward direction's last step
    and the reverse direction's step 0, each after the whole sequence, as `nn.LSTM`'s final h_n
    (the reverse half at the last step has read only that step). `every`: each step.
    `every_time_order`: a bidirectional go_backwards layer, whose outputs come in processing
    order (Keras), flipped back so the prediction for step t is read at step t.

    Refused: go_backwards without bidirectional at every step: in time order the output at step
    t has read only steps t..T-1, so no target that depends on earlier inputs can be learned.
    """
    if task.readout == "last":
        return "last_bidirectional" if layer.num_directions == 2 else "last"
    if not layer.go_backwards:
        return "every"
    if layer.num_directions == 1:
        raise ValueError(
            f"go_backwards=True cannot be read out at every step (task {task.name!r}): in time "
            "order the output at step t has read only steps t..T-1 and cannot recall earlier "
            "inputs; add bidirectional=True or drop go_backwards"
        )
    return "every_time_order"


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the run is recorded as `diverged`."""


class SequenceModel(pl.LightningModule):
    """Encode each step (embedding for token tasks, linear for real-valued), run the recurrent
    layer built by `variants.build`, read out at the last step or every step as the task says,
    and score with the task's own `loss` and `metrics`.

    `variant` is the variant config (`name`, `hidden_size`, options for `variants.build`);
    `optimizer` and `scheduler` are the matching config sections (see gatebench.training.optim).
    `test_lengths` are the lengths of the datamodule's test loaders, in their order (default:
    the task's length): each is scored, and its `norm_loss` normalised, with the task's
    baseline *at that length*; the block at the task's length is logged as `test/<name>`,
    another length L as `test_T<L>/<name>` (`test_metric_prefix`).
    """

    def __init__(
        self,
        task: Any,
        variant: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        encoder_size: int | None = None,
        test_lengths: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.task = task
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler or {})
        options = {k: v for k, v in dict(variant).items() if k not in VARIANT_META_KEYS}
        hidden_size = int(options.pop("hidden_size"))
        self.hidden_size = hidden_size
        # set by gatebench.config.build with model.param_budget
        self.param_budget: int | None = None
        width = int(encoder_size or hidden_size)
        if task.input_kind == "tokens":
            self.encoder: nn.Module = nn.Embedding(task.input_size, width)
        else:
            self.encoder = nn.Linear(task.input_size, width)
        self.layer = variants.build(
            variant["name"], width, hidden_size, batch_first=True, **options
        )
        self.readout = nn.Linear(self.layer.num_directions * hidden_size, task.output_size)
        self.readout_rule = readout_rule(task, self.layer)
        self.baseline = float(task.baseline())
        self.test_lengths: tuple[int, ...] = tuple(
            int(n) for n in (test_lengths if test_lengths is not None else [task.length])
        )
        # The trivial baseline at each test length (it depends on the length for some tasks,
        # e.g. copy with loss_on=all: K ln(alphabet) / (T + 2K)).
        self.test_baselines = {n: float(task.baseline(n)) for n in self.test_lengths}
        self._eval_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._test_outputs: dict[int, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions for a batch-first input: `(n, output_size)` for readout `last`,
        `(n, L, output_size)` for readout `every` (logits for class targets)."""
        output, _ = self.layer(self.encoder(x))
        return self.readout(self.read_out(output))

    def read_out(self, output: torch.Tensor) -> torch.Tensor:
        """The layer's batch-first output (n, L, D * H) -> what the readout sees."""
        rule = self.readout_rule
        if rule == "last_bidirectional":
            h = self.hidden_size
            return torch.cat([output[:, -1, :h], output[:, 0, h:]], dim=-1)
        if rule == "last":
            return output[:, -1]
        return output.flip(1) if rule == "every_time_order" else output

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, mask = batch
        loss = self.task.loss(self(x), y, mask)
        # Reading the loss waits for the device: on an accelerator only at logging steps (a NaN
        # loss poisons the weights, so it is still caught, a few steps later at most).
        if loss.device.type == "cpu" or self._logging_step():
            value = loss.item()  # a float's check: ~0.2 us against ~4 us for torch.isfinite
            if not math.isfinite(value):
                raise DivergedError(f"non-finite train/loss ({value}) at step {self.global_step}")
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

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """`trainer.gradient_clip_val` with `gradient_clip_algorithm: norm` in full precision on
        CPU: `clipping.clip_grad_norm` (torch's ops, the same gradients, ~20 us less a step);
        anything else: Lightning's clipping."""
        from pytorch_lightning.plugins.precision import Precision

        trainer = self._trainer
        if (
            isinstance(gradient_clip_val, int | float)
            and gradient_clip_val > 0
            and gradient_clip_algorithm == "norm"
            and trainer is not None
            and type(trainer.precision_plugin) is Precision
        ):
            params = [p for group in optimizer.param_groups for p in group["params"]]
            if clip_grad_norm(params, gradient_clip_val) is not None:
                return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def _collect(
        self,
        batch: tuple[torch.Tensor, ...],
        into: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        x, y, mask = batch
        (self._eval_outputs if into is None else into).append((self(x).detach(), y, mask))

    def _score(
        self,
        split: str,
        outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
        baseline: float | None = None,
    ) -> dict[str, float]:
        """Task metrics over the whole split at once (exact, not a mean of batch means);
        `norm_loss` = loss / `baseline` (default: the baseline at the task's length)."""
        outputs = self._eval_outputs if outputs is None else outputs
        pred = torch.cat([p for p, _, _ in outputs])
        y = torch.cat([t for _, t, _ in outputs])
        mask = torch.cat([m for _, _, m in outputs])
        outputs.clear()
        metrics = {k: float(v) for k, v in self.task.metrics(pred, y, mask).items()}
        metrics["norm_loss"] = metrics["loss"] / (self.baseline if baseline is None else baseline)
        scored = {f"{split}/{k}": v for k, v in metrics.items()}
        # Logged at epoch end: with several test loaders no `/dataloader_idx_N` suffix is wanted
        # (each length has its own prefix instead).
        self.log_dict(scored, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return scored

    def test_metric_prefix(self, length: int) -> str:
        """`test` for the task's own length, `test_T<length>` for another test length."""
        return "test" if length == self.task.length else f"test_T{length}"

    def on_validation_epoch_start(self) -> None:
        self._eval_outputs.clear()

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        scored = self._score("val")
        if not math.isfinite(scored["val/loss"]):
            raise DivergedError(f"non-finite val/loss at step {self.global_step}")

    def on_test_epoch_start(self) -> None:
        self._test_outputs = {i: [] for i in range(len(self.test_lengths))}

    def test_step(
        self, batch: tuple[torch.Tensor, ...], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx not in self._test_outputs:
            raise ValueError(
                f"test loader {dataloader_idx} has no length: the model was built with "
                f"test_lengths={list(self.test_lengths)} (one per test loader)"
            )
        self._collect(batch, self._test_outputs[dataloader_idx])

    def on_test_epoch_end(self) -> None:
        served = [bool(outputs) for outputs in self._test_outputs.values()]
        if any(served) and not all(served):
            raise ValueError(
                f"the test loaders served {served.count(True)} of the model's test_lengths "
                f"{list(self.test_lengths)}: build the datamodule with the same test_lengths"
            )
        for index, length in enumerate(self.test_lengths):
            if self._test_outputs[index]:
                self._score(
                    self.test_metric_prefix(length),
                    self._test_outputs[index],
                    self.test_baselines[length],
                )

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
