"""The S3 word problem: compose a string of permutations of 3 elements, name the product."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from tasks.state_tracking import StateTrackingTask, uniform

# The 6 elements of S3 as tuples p with p[i] the image of i, in lexicographic order: id 0 is
# the identity.
PERMUTATIONS: tuple[tuple[int, ...], ...] = tuple(itertools.permutations(range(3)))


def composition_table() -> torch.Tensor:
    """`table[g, s]` = the id of g o s (apply s, then g): `table[g, s][i] = g[s[i]]`."""
    index = {p: k for k, p in enumerate(PERMUTATIONS)}
    return torch.tensor(
        [[index[tuple(g[s[i]] for i in range(3))] for s in PERMUTATIONS] for g in PERMUTATIONS]
    )


class S3Word(StateTrackingTask):
    """The word problem of S3, the symmetric group on 3 elements (the smallest non-abelian
    group; Liu et al. 2023, "Transformers learn shortcuts to automata"; Merrill, Petty &
    Sabharwal 2024, "The illusion of state in state-space models"), read out Chomsky-style at
    the end (Deletang et al. 2023's layout and curriculum).

    Input: L permutations g_1..g_L, i.i.d. uniform over the 6 elements (ids 0..5 in
    `PERMUTATIONS` order), then the query token (id 6). Class: the id of the product
    g_L o ... o g_2 o g_1 (g_1 applied first), read at the query step. Merrill et al. label
    every prefix product (a tagging task); here only the full product is scored, as the issue's
    "read out the product" and the Chomsky tasks. See `StateTrackingTask` for the parameters.

    Chance: for L >= 1 the product is exactly uniform over the 6 elements: with the prefix
    product h fixed, g_L o h is uniform because g -> g o h is a bijection of S3 and g_L is
    uniform and independent of h. Accuracy 1/6, cross-entropy ln 6 = 1.792 at every length.
    """

    name = "s3_word"
    defaults = {"length": 40, "min_length": 1, "solved_acc": 0.99}
    n_symbols = 6
    output_size = 6

    def _configure(self) -> None:
        self._configure_curriculum()
        self.table = composition_table()

    def _labels(self, symbols: torch.Tensor) -> torch.Tensor:
        table = self.table.to(symbols.device)
        state = torch.zeros_like(symbols[:, 0])  # the identity
        for g in symbols.unbind(1):
            state = table[g, state]
        return state

    def target_distribution(self, length: int) -> np.ndarray:
        return uniform(6)
