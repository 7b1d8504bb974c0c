"""Modular arithmetic (simple): evaluate `n op n op ... n` mod m (Deletang et al. 2023)."""

from __future__ import annotations

import numpy as np
import torch

from tasks.base import Batch, check_int
from tasks.state_tracking import StateTrackingTask

OPERATORS = "+-*"  # their OP_BY_CHARACTER order: "+" -> m, "-" -> m + 1, "*" -> m + 2


class ModularArithmetic(StateTrackingTask):
    """Modular arithmetic (simple), Deletang et al. 2023 (regular; their
    `tasks/regular/modular_arithmetic.py`).

    Input: an expression of odd length L' = L (L - 1 when L is even, as theirs): numbers
    i.i.d. uniform over 0..m-1 (ids 0..m-1) at even steps, operators i.i.d. uniform over
    `operators` (ids m + index in "+-*", their encoding) at odd steps, then the query token
    (id m + 3; their unused blank "_" id is not drawn, so it is not in the vocabulary). Class:
    the value of the expression mod m with the usual precedence (products first, then sums
    and differences left to right), read at the query step; e.g. mod 5: 1 + 2 * 3 = 2,
    1 - 1 - 1 = 4. Defaults are the paper's: m = `modulus` = 5, `operators` = "+-*". The
    issue's "sum mod m" is `operators="+"` (their format, with the "+" tokens between the
    numbers). See `StateTrackingTask` for the layout, the curriculum and the other parameters.

    Chance: the class is not uniform once "*" is drawn (a product of uniform residues is 0
    more often: mod 5, 1 * 2 has P(0) = 9/25). A left-to-right evaluator keeps (sum of the
    closed terms, value of the open product term) in Z_m x Z_m; the expression is a Markov
    chain on that pair (start: (0, n_1), n_1 uniform; each (operator, number) step is uniform
    and independent: "*" multiplies the open term, "+"/"-" closes it into the sum and opens
    +n/-n), so the class distribution at L is exact by propagating the chain (m^2 states,
    (L' - 1) / 2 steps; `target_distribution`). `baseline(L)` is its entropy, and
    `chance_accuracy(L)` its largest probability (at the paper's setting: 0.2 at L = 1, ln 5).
    """

    name = "modular_arithmetic"
    defaults = {
        "length": 40,
        "min_length": 1,
        "modulus": 5,
        "operators": "+-*",
        "solved_acc": 0.99,
    }

    def _configure(self) -> None:
        p = self.params
        p["modulus"] = check_int(self.name, "modulus", p["modulus"], low=2)
        ops = p["operators"]
        if (
            not isinstance(ops, str)
            or not ops
            or any(c not in OPERATORS for c in ops)
            or len(set(ops)) != len(ops)
        ):
            raise ValueError(
                f"{self.name}: operators must be a non-empty string of distinct characters "
                f"from {OPERATORS!r}, got {ops!r}"
            )
        self.n_symbols = p["modulus"] + len(OPERATORS)
        self.output_size = p["modulus"]
        self._configure_curriculum()
        self.op_ids = torch.tensor([p["modulus"] + OPERATORS.index(c) for c in ops])

    @staticmethod
    def expression_length(length: int) -> int:
        """The odd number of expression steps at `length`: L, or L - 1 when L is even."""
        return length if length % 2 else length - 1

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        m, dev = self.params["modulus"], generator.device
        steps = self.expression_length(length)
        numbers = torch.randint(m, (n, steps // 2 + 1), generator=generator, device=dev)
        pick = torch.randint(len(self.op_ids), (n, steps // 2), generator=generator, device=dev)
        expression = torch.empty(n, steps, dtype=torch.long, device=dev)
        expression[:, 0::2] = numbers
        expression[:, 1::2] = self.op_ids.to(dev)[pick]
        query = torch.full((n, 1), self.n_symbols, dtype=torch.long, device=dev)
        mask = torch.ones(n, dtype=torch.bool, device=dev)
        return torch.cat([expression, query], dim=1), self._labels(expression), mask

    def _labels(self, expression: torch.Tensor) -> torch.Tensor:
        m = self.params["modulus"]
        total = torch.zeros_like(expression[:, 0])
        term = expression[:, 0]
        for j in range(1, expression.shape[1], 2):
            op, value = expression[:, j] - m, expression[:, j + 1]
            times = op == OPERATORS.index("*")
            signed = torch.where(op == OPERATORS.index("-"), (-value) % m, value)
            total = torch.where(times, total, (total + term) % m)
            term = torch.where(times, (term * value) % m, signed)
        return (total + term) % m

    def target_distribution(self, length: int) -> np.ndarray:
        m, ops = self.params["modulus"], self.params["operators"]
        r = np.arange(m)
        prob = np.zeros((m, m))  # prob[closed sum, open term]
        prob[0, :] = 1.0 / m
        weight = 1.0 / (len(ops) * m)
        for _ in range(self.expression_length(length) // 2):
            new = np.zeros_like(prob)
            total, term = np.meshgrid(r, r, indexing="ij")
            for op in ops:
                for value in range(m):
                    if op == "*":
                        to_total, to_term = total, (term * value) % m
                    else:
                        to_total = (total + term) % m
                        to_term = np.full_like(term, value if op == "+" else (-value) % m)
                    np.add.at(new, (to_total, to_term), weight * prob)
            prob = new
        out = np.zeros(m)
        total, term = np.meshgrid(r, r, indexing="ij")
        np.add.at(out, (total + term) % m, prob)
        return out
