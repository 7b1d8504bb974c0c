"""Adding problem: output the sum of the two marked values (Le et al. 2015; H&S 1997 exp. 4)."""

from __future__ import annotations

import torch

from tasks.base import Batch
from tasks.families import RegressionTask
from tasks.marked_pairs import MarkedPairsTask, marked_inputs, marker_positions


class Adding(MarkedPairsTask, RegressionTask):
    """Adding problem, two forms; input `(n, T, 2)` = (value, marker), target `(n, 1)`.

    form="modern" (Le, Jaitly & Hinton 2015; Arjovsky et al. 2016): values U[0, 1], one
    marker in each half of the sequence, target X1 + X2.
    form="original" (Hochreiter & Schmidhuber 1997, exp. 4): values U[-1, 1], the first
    marker among the first ten steps, the second among the first T/2 - 1 unmarked steps,
    marker -1 on the first and last steps, and X1 := 0 "in the rare case where the first pair
    of the sequence gets marked" (by the first marker); target 0.5 + (X1 + X2) / 4. The
    paper's random lengths in [T, T + T/10] are not used: every sequence is T long.

    Parameters: `length` (T), `form`, `tolerance` (0.04, H&S), `solved_norm_mse` (0.05),
    `solved_tol_acc` (None); see `RegressionTask` for the solved criterion.
    """

    name = "adding"
    defaults = {
        "length": 100,
        "form": "modern",
        "tolerance": 0.04,
        "solved_norm_mse": 0.05,
        "solved_tol_acc": None,
    }

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        form, dev = self.params["form"], generator.device
        values = torch.rand(n, length, generator=generator, device=dev)
        p1, p2 = marker_positions(n, length, form, generator)
        if form == "original":
            values = 2.0 * values - 1.0
            values[:, 0] = torch.where(p1 == 0, 0.0, values[:, 0])
        x1 = values.gather(1, p1[:, None])
        x2 = values.gather(1, p2[:, None])
        target = x1 + x2 if form == "modern" else 0.5 + (x1 + x2) / 4.0
        mask = torch.ones(n, dtype=torch.bool, device=dev)
        return marked_inputs(values, p1, p2, form), target, mask

    def baseline(self, length: int | None = None) -> float:
        """MSE of the best constant prediction, the target's mean: Var(target).

        modern: Var(X1 + X2) = 2 Var(U[0, 1]) = 2/12 = 1/6 (predict 1).
        original: predict 0.5; Var(X2) = Var(U[-1, 1]) = 1/3, and X1 is 0 with probability
        1/10 (first marker on step 0), else U[-1, 1], so Var(X1) = (9/10)(1/3) = 3/10; both have
        mean 0, so Var(0.5 + (X1 + X2)/4) = (3/10 + 1/3)/16 = 19/480 ~ 0.0396 (1/24 ~ 0.0417
        without the X1 := 0 rule). Independent of `length`.
        """
        return 1.0 / 6.0 if self.params["form"] == "modern" else 19.0 / 480.0
