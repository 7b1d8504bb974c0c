"""Parity: is the number of ones in a bit string odd? (Deletang et al. 2023, "parity check")."""

from __future__ import annotations

import numpy as np
import torch

from tasks.state_tracking import StateTrackingTask, uniform


class Parity(StateTrackingTask):
    """Parity check, Deletang et al. 2023 (regular; their `tasks/regular/parity_check.py`).

    Input: L bits, i.i.d. uniform over {0, 1} (ids 0, 1), then the query token (id 2). Class:
    the number of ones mod 2 (0 even, 1 odd), read at the query step. See `StateTrackingTask`
    for the layout, the length curriculum and the parameters (`length`, `min_length`,
    `solved_acc`).

    Chance: for L >= 1 the class is exactly uniform: the last bit is uniform and independent of
    the parity of the first L - 1, and x + b mod 2 is uniform for any fixed x when b is. So the
    best input-independent prediction scores accuracy 1/2 and cross-entropy ln 2 = 0.693 at
    every length.
    """

    name = "parity"
    defaults = {"length": 40, "min_length": 1, "solved_acc": 0.99}
    n_symbols = 2
    output_size = 2

    def _configure(self) -> None:
        self._configure_curriculum()

    def _labels(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.sum(dim=1) % 2

    def target_distribution(self, length: int) -> np.ndarray:
        return uniform(2)
