"""Cycle navigation: where does a walk of -1/0/+1 moves end on a cycle? (Deletang et al. 2023)."""

from __future__ import annotations

import numpy as np
import torch

from tasks.base import check_int
from tasks.state_tracking import StateTrackingTask, walk_distribution


class CycleNavigation(StateTrackingTask):
    """Cycle navigation, Deletang et al. 2023 (regular; their `tasks/regular/cycle_navigation.py`).

    Input: L actions, i.i.d. uniform over ids {0, 1, 2} meaning the moves {-1, 0, +1} (id - 1,
    as theirs), then the query token (id 3). Class: the final position, (sum of the moves) mod
    `cycle_length`, starting at 0, read at the query step. `cycle_length` is 5 in the paper.
    See `StateTrackingTask` for the layout, the length curriculum and the other parameters.

    Chance: the final position is a lazy random walk on Z_m (m = `cycle_length`), so its
    distribution after L moves is the L-fold circular convolution of the move distribution
    (1/3 on each of -1, 0, +1) (`walk_distribution`, exact). It is not uniform at short
    lengths: at L = 1 the positions m-1, 0, 1 have 1/3 each (chance accuracy 1/3, cross-entropy
    ln 3); with m = 5 the distance to uniform shrinks by |1 + 2 cos(2 pi k / 5)| / 3 <= 0.54 per
    move (the largest non-trivial Fourier coefficient), so by L = 40 the class is uniform to
    1e-10: accuracy 1/5, cross-entropy ln 5 = 1.609. `baseline(L)` is the entropy of that
    distribution, `chance_accuracy(L)` its largest probability.
    """

    name = "cycle_navigation"
    defaults = {"length": 40, "min_length": 1, "cycle_length": 5, "solved_acc": 0.99}
    n_symbols = 3

    def _configure(self) -> None:
        p = self.params
        p["cycle_length"] = check_int(self.name, "cycle_length", p["cycle_length"], low=2)
        self.output_size = p["cycle_length"]
        self._configure_curriculum()

    def _labels(self, symbols: torch.Tensor) -> torch.Tensor:
        return (symbols - 1).sum(dim=1) % self.params["cycle_length"]

    def target_distribution(self, length: int) -> np.ndarray:
        moves = {-1: 1.0 / 3.0, 0: 1.0 / 3.0, 1: 1.0 / 3.0}
        return walk_distribution(moves, self.params["cycle_length"], length)
