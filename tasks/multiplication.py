"""Multiplication problem: output the product of the two marked values (H&S 1997, exp. 5)."""

from __future__ import annotations

import torch

from tasks.base import Batch
from tasks.families import RegressionTask
from tasks.marked_pairs import MarkedPairsTask, marked_inputs, marker_positions


class Multiplication(MarkedPairsTask, RegressionTask):
    """Multiplication problem; input `(n, T, 2)` = (value, marker), target X1 * X2 `(n, 1)`.

    form="original" (default; Hochreiter & Schmidhuber 1997, exp. 5): the adding problem's
    original layout (first marker among the first ten steps, second among the first T/2 - 1
    unmarked steps, marker -1 on the first and last steps) with values U[0, 1], and X1 := 1
    "in the rare case where the first pair of the input sequence gets marked" (by the first
    marker). Sequences are T long (the paper's random lengths in [T, T + T/10] are not used).
    form="modern": values U[0, 1], one marker in each half, as the modern adding problem.

    Parameters: `length` (T), `form`, `tolerance` (0.04, H&S), `solved_norm_mse` (0.05),
    `solved_tol_acc` (None); see `RegressionTask` for the solved criterion.
    """

    name = "multiplication"
    defaults = {
        "length": 100,
        "form": "original",
        "tolerance": 0.04,
        "solved_norm_mse": 0.05,
        "solved_tol_acc": None,
    }

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        form, dev = self.params["form"], generator.device
        values = torch.rand(n, length, generator=generator, device=dev)
        p1, p2 = marker_positions(n, length, form, generator)
        if form == "original":
            values[:, 0] = torch.where(p1 == 0, 1.0, values[:, 0])
        target = values.gather(1, p1[:, None]) * values.gather(1, p2[:, None])
        mask = torch.ones(n, dtype=torch.bool, device=dev)
        return marked_inputs(values, p1, p2, form), target, mask

    def baseline(self, length: int | None = None) -> float:
        """MSE of the best constant prediction, the target's mean: Var(X1 X2).

        X1 and X2 are independent. modern: E[X1 X2] = 1/4, E[(X1 X2)^2] = (1/3)^2 = 1/9, so
        Var = 1/9 - 1/16 = 7/144 ~ 0.0486.
        original: X1 = 1 with probability q = 1/10, else U[0, 1]: E[X1] = (1 + q)/2 = 11/20,
        E[X1^2] = (1 + 2q)/3 = 2/5; X2 ~ U[0, 1]. E[X1 X2] = 11/40, E[(X1 X2)^2] = (2/5)(1/3) =
        2/15, so Var = 2/15 - (11/40)^2 = 277/4800 ~ 0.0577 (7/144 without the X1 := 1 rule).
        Independent of `length`.
        """
        return 7.0 / 144.0 if self.params["form"] == "modern" else 277.0 / 4800.0
