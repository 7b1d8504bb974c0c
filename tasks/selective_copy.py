"""Selective copy (Gu & Dao 2023): recall, in order, data tokens scattered among noise tokens."""

from __future__ import annotations

import math

import torch

from tasks.base import Batch, check_int
from tasks.families import RecallTask


class SelectiveCopy(RecallTask):
    """Selective copying, Gu & Dao 2023 (Mamba), sec. 3.1 and app. E.1.

    Vocabulary (`input_size = alphabet + 2`; the default 16 is the paper's, laid out as in the
    S4/safari `torch_copying_data(variable=True)` generator they used): ids 0..alphabet-1 are
    data tokens, `alphabet` is the noise token, `alphabet + 1` the marker that asks for output.
    With K = `n_copy` and T = `length`, a sequence is T + K steps long: K data tokens (uniform,
    with repetition) at K distinct uniformly random steps among the first T, noise at the other
    T - K, then K markers. The target at the k-th marker step is the k-th data token in order
    of position; every other step has the noise target and no loss: the loss (cross-entropy)
    counts on the K marker steps only. Output classes: the data tokens and noise
    (`output_size = alphabet + 1`). Metrics: `recall_acc` is the per-token accuracy on the K
    marker steps, `seq_acc` the fraction of sequences with all K right.

    Parameters: `length` (T, where the data tokens may sit; the paper's 4096), `n_copy` (K,
    16), `alphabet` (14), `solved_acc` (recall accuracy to call it solved; 0.99).
    """

    name = "selective_copy"
    defaults = {"length": 4096, "n_copy": 16, "alphabet": 14, "solved_acc": 0.99}

    def _configure(self) -> None:
        p = self.params
        p["n_copy"] = check_int(self.name, "n_copy", p["n_copy"], low=1)
        p["alphabet"] = check_int(self.name, "alphabet", p["alphabet"], low=1)
        self._configure_solved()
        self.blank = p["alphabet"]
        self.marker = p["alphabet"] + 1
        self.input_size = p["alphabet"] + 2
        self.output_size = p["alphabet"] + 1

    def min_length(self) -> int:
        return self.params["n_copy"]

    def _check_length(self, length: object) -> int:
        k = self.params["n_copy"]
        if isinstance(length, int) and not isinstance(length, bool) and 1 <= length < k:
            raise ValueError(
                f"selective_copy: length must be >= n_copy={k} (cannot place {k} tokens at "
                f"distinct steps among {length}), got {length}"
            )
        return super()._check_length(length)

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        k, dev = self.params["n_copy"], generator.device
        data = torch.randint(self.params["alphabet"], (n, k), generator=generator, device=dev)
        keys = torch.rand(n, length, generator=generator, device=dev)
        steps = keys.topk(k, dim=1).indices.sort(dim=1).values  # K distinct steps, in order
        x = torch.full((n, length + k), self.blank, dtype=torch.long, device=dev)
        x.scatter_(1, steps, data)
        x[:, length:] = self.marker
        y = torch.full((n, length + k), self.blank, dtype=torch.long, device=dev)
        y[:, length:] = data
        mask = torch.zeros(n, length + k, dtype=torch.bool, device=dev)
        mask[:, length:] = True
        return x, y, mask

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The K data-token steps, in order, and the first marker step (the first recall)."""
        k = self.params["n_copy"]
        inputs = (x < self.blank).nonzero()[:, 1].view(x.shape[0], k)
        return inputs, (x == self.marker).long().argmax(dim=1)

    def baseline(self, length: int | None = None) -> float:
        """Cross-entropy of the best input-independent strategy on the marker steps: ln(alphabet).

        Each target on the K marker steps is a data token, uniform over the alphabet on its
        own, and the loss counts nowhere else; the best input-independent prediction is the
        uniform distribution over the data tokens, with cross-entropy ln(alphabet) (ln 14 =
        2.639). Independent of `length`.
        """
        return math.log(self.params["alphabet"])
