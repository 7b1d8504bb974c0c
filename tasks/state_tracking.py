"""State tracking, Chomsky-style (Deletang et al. 2023): length curriculum, one class at the end."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from tasks.base import Batch, check_int
from tasks.families import ClassTask


class StateTrackingTask(ClassTask):
    """Read a string of L symbols, then one query token; the class is read at the query step.

    Layout (Deletang et al. 2023, "Neural networks and the Chomsky hierarchy", sec. 3 and their
    `make_model_with_empty_targets`): the L input symbols (ids 0..`n_symbols`-1) are followed
    by one empty token (id `n_symbols`) at which the model answers, so a sequence is L + 1
    steps long and `input_size = n_symbols + 1`. Their network reads one-hot vectors; here the
    runner's embedding reads the ids (the same information).

    Length curriculum (their `UniformCurriculum(range(1, 41))`, `training.py`): each training
    batch draws one length uniformly from [`min_length`, `length`] and every sequence in it has
    that length (one length per batch, as theirs: no padding, no mask). Validation and the
    default test set are at `length`, the maximum; `data.test_lengths` adds longer ones.
    Their score is the mean accuracy over the test lengths beyond the training range (41..500);
    the report's length table shows it over the `data.test_lengths` above `length`.

    Subclasses set `n_symbols`, `output_size`, `_labels(symbols)` (the class of each string,
    vectorised) and `target_distribution(length)` (exact class probabilities at a length).
    Parameters every state-tracking task takes: `length` (the longest training length; the
    paper's 40), `min_length` (the shortest; 1), `solved_acc` (0.99 at `length`; null never
    stops early, as the paper's fixed 10,000 steps).
    """

    n_symbols: int

    def _configure_curriculum(self) -> None:
        p = self.params
        if p["solved_acc"] is not None:
            self._configure_solved()
        p["min_length"] = check_int(self.name, "min_length", p["min_length"], low=1)
        length = p["length"]
        if isinstance(length, int) and not isinstance(length, bool) and p["min_length"] > length:
            raise ValueError(
                f"{self.name}: min_length must be in [1, length={length}], got {p['min_length']}"
            )
        self.input_size = self.n_symbols + 1

    def training_lengths(self) -> tuple[int, int]:
        return self.params["min_length"], self.length

    def _symbols(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """The `(n, length)` input symbols, i.i.d. uniform over the `n_symbols` ids."""
        return torch.randint(
            self.n_symbols, (n, length), generator=generator, device=generator.device
        )

    def _labels(self, symbols: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        symbols = self._symbols(n, length, generator)
        query = torch.full((n, 1), self.n_symbols, dtype=torch.long, device=symbols.device)
        mask = torch.ones(n, dtype=torch.bool, device=symbols.device)
        return torch.cat([symbols, query], dim=1), self._labels(symbols), mask

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 0 (the first symbol, the oldest input the class depends on) and the query step."""
        n = x.shape[0]
        first = torch.zeros(n, 1, dtype=torch.long, device=x.device)
        return first, torch.full((n,), x.shape[1] - 1, dtype=torch.long, device=x.device)

    # -- baseline --------------------------------------------------------------------------------

    def target_distribution(self, length: int) -> np.ndarray:
        """The exact probability of each class for strings of `length` symbols."""
        raise NotImplementedError

    def baseline(self, length: int | None = None) -> float:
        """Cross-entropy of the best input-independent prediction: the entropy (nats) of the
        class distribution at `length` (the prediction that minimises expected cross-entropy
        is that distribution itself). Each task derives its distribution."""
        length = self.length if length is None else self._check_length(length)
        return entropy(self.target_distribution(length))

    def chance_accuracy(self, length: int | None = None) -> float:
        """Accuracy of the best input-independent guess: the most likely class's probability."""
        length = self.length if length is None else self._check_length(length)
        return float(self.target_distribution(length).max())

    def solved(self, metrics: Mapping[str, float]) -> bool:
        if self.params["solved_acc"] is None:
            self._metric(metrics, self.primary_metric)  # still refuses a missing metric
            return False
        return super().solved(metrics)


def uniform(classes: int) -> np.ndarray:
    """The uniform distribution over `classes` classes."""
    return np.full(classes, 1.0 / classes)


def walk_distribution(moves: Mapping[int, float], modulus: int, length: int) -> np.ndarray:
    """The exact distribution of (s_1 + ... + s_length) mod `modulus` for i.i.d. moves s_i
    with P(s_i = j) = `moves[j]`: `length` circular convolutions of the start (0 with
    probability 1)."""
    dist = np.zeros(modulus)
    dist[0] = 1.0
    for _ in range(length):
        dist = sum(p * np.roll(dist, j) for j, p in moves.items())
    return dist


def entropy(p: np.ndarray) -> float:
    """Shannon entropy in nats."""
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())
