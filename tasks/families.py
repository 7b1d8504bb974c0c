"""Loss, metrics and solved criteria shared by the three task kinds: recall, class, regression."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from tasks.base import Task, check_float


class _TokenClassTask(Task):
    """Token input, class targets, masked mean cross-entropy; solved by an accuracy threshold."""

    input_kind = "tokens"
    target_kind = "class"

    def _configure_solved(self) -> None:
        self.params["solved_acc"] = check_float(
            self.name, "solved_acc", self.params["solved_acc"], 0.0, 1.0
        )

    def loss(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred[mask], y[mask])

    def solved(self, metrics: Mapping[str, float]) -> bool:
        return self._metric(metrics, self.primary_metric) >= self.params["solved_acc"]


class RecallTask(_TokenClassTask):
    """Token input, a class target at every step; the loss counts where `mask` is True.

    Recall steps are those whose target is not the `blank` class. Metrics: `loss` (mean
    cross-entropy over masked steps), `recall_acc` (per-token accuracy on the recall steps) and
    `seq_acc` (fraction of sequences right at every recall and every masked step).
    Solved: `recall_acc >= solved_acc`.
    """

    readout = "every"
    primary_metric = "recall_acc"
    primary_mode = "max"
    blank: int  # the target id of steps with nothing to recall

    @torch.no_grad()
    def metrics(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        recall = y != self.blank
        correct = pred.argmax(dim=-1) == y
        return {
            "loss": self.loss(pred, y, mask).item(),
            "recall_acc": correct[recall].float().mean().item(),
            "seq_acc": (correct | ~(recall | mask)).all(dim=1).float().mean().item(),
        }


class ClassTask(_TokenClassTask):
    """Token input, one class per sequence read at the last step.

    Metrics: `loss` (mean cross-entropy) and `acc`. Solved: `acc >= solved_acc`.
    """

    readout = "last"
    primary_metric = "acc"
    primary_mode = "max"

    @torch.no_grad()
    def metrics(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        correct = pred.argmax(dim=-1) == y
        return {
            "loss": self.loss(pred, y, mask).item(),
            "acc": correct[mask].float().mean().item(),
        }


class RegressionTask(Task):
    """Real input, real targets read at the last step; loss MSE.

    Metrics: `loss` (= `mse`), `mse`, and `tol_acc`, the fraction of sequences with
    |error| < `tolerance` (0.04: Hochreiter & Schmidhuber 1997, exp. 4-5). Solved when every
    criterion that is set holds: `mse <= solved_norm_mse * baseline()` (default 0.05, i.e. a
    normalised loss of 0.05) and `tol_acc >= solved_tol_acc` (default None; H&S stopped training
    once the 2000 most recent sequences were all within tolerance: `solved_tol_acc=1.0`).
    """

    input_kind = "real"
    target_kind = "real"
    readout = "last"
    primary_metric = "mse"
    primary_mode = "min"

    def _configure_solved(self) -> None:
        p = self.params
        p["tolerance"] = check_float(self.name, "tolerance", p["tolerance"], 0.0, math.inf)
        for key in ("solved_norm_mse", "solved_tol_acc"):
            if p[key] is not None:
                p[key] = check_float(self.name, key, p[key], 0.0, math.inf)
        if p["solved_norm_mse"] is None and p["solved_tol_acc"] is None:
            raise ValueError(f"{self.name}: set solved_norm_mse or solved_tol_acc (both are None)")

    def loss(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred[mask], y[mask])

    @torch.no_grad()
    def metrics(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        err = pred[mask] - y[mask]
        mse = err.pow(2).mean().item()
        within = (err.abs() < self.params["tolerance"]).all(dim=-1)
        return {"loss": mse, "mse": mse, "tol_acc": within.float().mean().item()}

    def solved(self, metrics: Mapping[str, float]) -> bool:
        p = self.params
        ok = True
        if p["solved_norm_mse"] is not None:
            ok &= self._metric(metrics, "mse") <= p["solved_norm_mse"] * self.baseline()
        if p["solved_tol_acc"] is not None:
            ok &= self._metric(metrics, "tol_acc") >= p["solved_tol_acc"]
        return bool(ok)
