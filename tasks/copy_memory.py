"""Copy memory task (Arjovsky, Shah & Bengio 2016): recall 10 symbols after a delay of T steps."""

from __future__ import annotations

import math

import torch

from tasks.base import Batch, check_choice, check_int
from tasks.families import RecallTask


class CopyMemory(RecallTask):
    """Copy memory, Arjovsky et al. 2016, sec. 4.1.

    Vocabulary (`alphabet` = 8 as in the paper): ids 0..alphabet-1 are data symbols,
    `alphabet` is the blank, `alphabet + 1` the delimiter; the output classes are the data
    symbols and the blank (`output_size = alphabet + 1`). With K = `n_copy` (10) and T =
    `length`, a sequence is K + T + K = T + 2K steps long (T + 20):

        input : d_1..d_K, T-1 blanks, delimiter, K blanks
        target: T+K blanks,                      d_1..d_K

    d_i are uniform over the alphabet (all different when `distinct=True`, which needs
    n_copy <= alphabet).

    Parameters: `length` (T, the delay), `n_copy`, `alphabet`, `loss_on` ("all": the paper's
    cross-entropy averaged over all T + 2K steps; "recall": over the K recall steps only),
    `random_delay` (each sequence draws its delay d uniformly from [min_delay, T]; the
    delimiter comes d steps after the data and the K recall steps right after it; the
    remaining T - d steps are blank input with blank target, so every sequence keeps the
    length T + 2K), `min_delay`, `distinct`, `solved_acc` (recall accuracy to call it solved;
    0.99).
    """

    name = "copy"
    defaults = {
        "length": 100,
        "n_copy": 10,
        "alphabet": 8,
        "loss_on": "all",
        "random_delay": False,
        "min_delay": 1,
        "distinct": False,
        "solved_acc": 0.99,
    }

    def _configure(self) -> None:
        p, name = self.params, self.name
        p["n_copy"] = check_int(name, "n_copy", p["n_copy"], low=1)
        p["alphabet"] = check_int(name, "alphabet", p["alphabet"], low=1)
        p["loss_on"] = check_choice(name, "loss_on", p["loss_on"], ("all", "recall"))
        p["random_delay"] = check_choice(name, "random_delay", p["random_delay"], (False, True))
        p["distinct"] = check_choice(name, "distinct", p["distinct"], (False, True))
        if p["distinct"] and p["n_copy"] > p["alphabet"]:
            raise ValueError(
                f"copy: n_copy must be in [1, alphabet={p['alphabet']}] with distinct=True "
                f"(cannot draw more different symbols than the alphabet holds), "
                f"got {p['n_copy']}"
            )
        p["min_delay"] = check_int(name, "min_delay", p["min_delay"], low=1)
        self._configure_solved()
        self.blank = p["alphabet"]
        self.delimiter = p["alphabet"] + 1
        self.input_size = p["alphabet"] + 2
        self.output_size = p["alphabet"] + 1

    def min_length(self) -> int:
        return self.params["min_delay"] if self.params["random_delay"] else 1

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        p, dev = self.params, generator.device
        k = p["n_copy"]
        total = length + 2 * k
        if p["distinct"]:
            keys = torch.rand(n, p["alphabet"], generator=generator, device=dev)
            data = keys.argsort(dim=1)[:, :k]
        else:
            data = torch.randint(p["alphabet"], (n, k), generator=generator, device=dev)
        if p["random_delay"]:
            delay = torch.randint(
                p["min_delay"], length + 1, (n, 1), generator=generator, device=dev
            )
        else:
            delay = torch.full((n, 1), length, device=dev)
        delimiter_at = k + delay - 1  # (n, 1)
        recall_at = delimiter_at + 1 + torch.arange(k, device=dev)  # (n, k)

        x = torch.full((n, total), self.blank, dtype=torch.long, device=dev)
        x[:, :k] = data
        x.scatter_(1, delimiter_at, self.delimiter)
        y = torch.full((n, total), self.blank, dtype=torch.long, device=dev)
        y.scatter_(1, recall_at, data)
        if p["loss_on"] == "all":
            mask = torch.ones(n, total, dtype=torch.bool, device=dev)
        else:
            mask = torch.zeros(n, total, dtype=torch.bool, device=dev)
            mask.scatter_(1, recall_at, True)
        return x, y, mask

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The K data steps 0..K-1 and the first recall step (right after the delimiter)."""
        k = self.params["n_copy"]
        inputs = torch.arange(k, device=x.device).expand(x.shape[0], k)
        return inputs, (x == self.delimiter).long().argmax(dim=1) + 1

    def baseline(self, length: int | None = None) -> float:
        """Cross-entropy of the memoryless strategy: K ln(alphabet) / (T + 2K), or ln(alphabet).

        Fixed delay: the target at each step t is blank with probability 1 on the T + K
        non-recall steps and uniform over the alphabet on the K recall steps, whatever
        happened before; so the best input-independent prediction is "blank" (loss 0) and
        "uniform" (loss ln(alphabet)) there. Averaged over all T + 2K steps: K ln(alphabet) /
        (T + 2K) = 10 ln 8 / (T + 20) in the paper's setting (0.173 at T = 100); over the recall
        steps only: ln(alphabet) (2.079). `distinct` does not change it: each recall target is
        still uniform on its own. With `random_delay` the recall steps move, so this is the
        loss of the memoryless strategy that sees the current input (it predicts uniform for
        the K steps after the delimiter and blank elsewhere), the same value: a model that only
        learned where the recall steps are scores 1.0 in normalised loss.
        """
        length = self.length if length is None else self._check_length(length)
        k, log_a = self.params["n_copy"], math.log(self.params["alphabet"])
        if self.params["loss_on"] == "recall":
            return log_a
        return k * log_a / (length + 2 * k)
