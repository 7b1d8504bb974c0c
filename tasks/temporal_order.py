"""Temporal order: classify the order of 2 or 3 widely separated X/Y symbols (H&S 1997, exp. 6)."""

from __future__ import annotations

import math

import torch

from tasks.base import Batch, check_choice
from tasks.families import ClassTask

# Windows [lo, hi] (inclusive) for the relevant symbols, in percent of T: at T = 100 they are
# the paper's step windows (exp. 6a: 10-20, 50-60; exp. 6b: 10-20, 33-43, 66-76).
WINDOWS_PERCENT = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}
DISTRACTORS = 4  # a, b, c, d
X, Y, TRIGGER_B, START_E = 4, 5, 6, 7


def windows(length: int, relevant: int) -> list[tuple[int, int]]:
    """The relevant symbols' step windows at `length`: floor(percent * T / 100), inclusive."""
    return [(lo * length // 100, hi * length // 100) for lo, hi in WINDOWS_PERCENT[relevant]]


class TemporalOrder(ClassTask):
    """Temporal order, Hochreiter & Schmidhuber 1997, exp. 6a (`relevant=2`) and 6b (3).

    Tokens (`input_size` 8): a, b, c, d = 0..3 (distractors), X = 4, Y = 5, B = 6 (trigger),
    E = 7 (start). A sequence of T = `length` steps starts with E (step 0), ends with B (step
    T - 1), and holds uniform distractors elsewhere except at one step drawn uniformly inside
    each window, which holds X or Y (each with probability 1/2). The windows scale with T:
    [floor(pT/100), floor(qT/100)] for the paper's (p, q) = (10, 20), (50, 60) (6a) or (10, 20),
    (33, 43), (66, 76) (6b), so at T = 100 they are the paper's; T >= 10 keeps them disjoint and
    inside the sequence. The paper draws T uniformly from [100, 110]; here every sequence is T
    long. Class (read at the last step) = the X/Y pattern as a binary number with X = 0, Y = 1,
    first symbol most significant: XX -> 0 (Q), XY -> 1 (R), YX -> 2 (S), YY -> 3 (U); 6b's
    XXX..YYY -> 0..7 (Q, R, S, U, V, A, B, C).

    Parameters: `length` (T), `relevant` (2 or 3), `solved_acc` (0.99).
    """

    name = "temporal_order"
    defaults = {"length": 100, "relevant": 2, "solved_acc": 0.99}
    input_size = 8

    def _configure(self) -> None:
        p = self.params
        p["relevant"] = check_choice(self.name, "relevant", p["relevant"], (2, 3))
        self._configure_solved()
        self.output_size = 2 ** p["relevant"]

    def min_length(self) -> int:
        return 10

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        relevant, dev = self.params["relevant"], generator.device
        x = torch.randint(DISTRACTORS, (n, length), generator=generator, device=dev)
        x[:, 0] = START_E
        x[:, -1] = TRIGGER_B
        steps = torch.stack(
            [
                torch.randint(lo, hi + 1, (n,), generator=generator, device=dev)
                for lo, hi in windows(length, relevant)
            ],
            dim=1,
        )
        is_y = torch.randint(2, (n, relevant), generator=generator, device=dev)
        x.scatter_(1, steps, X + is_y)
        place_value = 2 ** torch.arange(relevant - 1, -1, -1, device=dev)
        y = (is_y * place_value).sum(dim=1)
        mask = torch.ones(n, dtype=torch.bool, device=dev)
        return x, y, mask

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The steps of the X/Y symbols, in order, and the last step, where the class is read."""
        relevant = self.params["relevant"]
        inputs = ((x == X) | (x == Y)).nonzero()[:, 1].view(x.shape[0], relevant)
        return inputs, torch.full((x.shape[0],), x.shape[1] - 1, device=x.device)

    def baseline(self, length: int | None = None) -> float:
        """Cross-entropy of the class prior: ln(2^relevant) (ln 4 = 1.386, ln 8 = 2.079).

        The relevant symbols are X or Y independently with probability 1/2, so the classes are
        uniform whatever the length; the best input-independent prediction is the uniform
        distribution, whose cross-entropy is the prior's entropy.
        """
        return math.log(self.output_size)
