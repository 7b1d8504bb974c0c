"""Multi-query associative recall, MQAR (Arora et al. 2023, Zoology): recall values by key."""

from __future__ import annotations

import math

import torch

from tasks.base import Batch, check_choice, check_float, check_int
from tasks.families import RecallTask


def gap_log_weights(space: int, power_a: float) -> torch.Tensor:
    """Log of zoology's power-law gap weights: gap g in 0..space-1 has weight
    a (g + 1)^(a - 1) (normalised: only ratios matter when drawing)."""
    return (power_a - 1.0) * torch.log(torch.arange(1, space + 1, dtype=torch.float64))


def draw_without_replacement(
    log_weights: torch.Tensor, n: int, k: int, generator: torch.Generator
) -> torch.Tensor:
    """`(n, k)` indices drawn without replacement with probability proportional to
    exp(`log_weights`), in draw order: the Gumbel-top-k trick, which gives exactly the law of
    k successive weighted draws without replacement (numpy's `choice(replace=False, p=...)`;
    Kool, van Hoof & Welling 2019, "Stochastic beams and where to find them", eq. 6)."""
    dev = generator.device
    u = torch.rand(n, log_weights.numel(), generator=generator, device=dev, dtype=torch.float64)
    u = u.clamp_min(torch.finfo(torch.float64).tiny)
    gumbel = -torch.log(-torch.log(u))
    return (log_weights.to(dev) + gumbel).topk(k, dim=1).indices


class MultiQueryAR(RecallTask):
    """MQAR, Arora, Eyuboglu et al. 2023 ("Zoology", sec. 3 and app. E; `zoology/data/
    multiquery_ar.py`, whose generator this follows step for step).

    With V = `vocab_size`, k = `num_kv_pairs`, T = `length` (>= 4k): keys are k distinct
    ids drawn uniformly from 1..V/2 - 1 (the lower half; 0 is the filler), values k distinct
    ids from V/2..V-1 (the upper half). The sequence (T steps) is the k pairs
    `key_1 value_1 ... key_k value_k`, then the query region: with space = (T - 2k) / 2, the
    k gaps g_j are drawn without replacement from 0..space-1 with probability proportional to
    (g + 1)^(a - 1), a = `power_a` (0.01: mostly short gaps), and key_j is re-presented at step
    2k + 2 g_j. Every other step of the query region is filler: 0, or, with
    `random_non_queries` (zoology's default), a uniform id from 0..V-1 (which may repeat a key
    or a value: it carries no label). The target at the step of a re-presented key_j is value_j
    (zoology's label at "query + 1" is the next-token label of that step); the loss and the
    metrics count on those k steps only (`mask`). Output classes: the whole vocabulary
    (`output_size = V`), as zoology's language-model head. `recall_acc` is the accuracy on the
    k query steps, `seq_acc` the fraction of sequences with all k right.

    Where this differs from zoology's code: each batch is a pure function of its generator
    (zoology seeds numpy's global RNG per data set and draws the random fillers from torch's
    global RNG); their `assert vocab_size > input_seq_len` is not kept (nothing in the
    generator needs it; k <= V/2 - 1 is what the keys need), nor their even T (an odd T ends
    with one more filler step). `num_passes` (JRT) is 1.

    Parameters: `length` (T; 64), `vocab_size` (8192), `num_kv_pairs` (4; their figure 2 runs
    (T, k) = (64, 4), (128, 8), (256, 16), (512, 64)), `power_a` (0.01), `random_non_queries`
    (true), `solved_acc` (recall accuracy to call it solved; 0.99).
    """

    name = "mqar"
    defaults = {
        "length": 64,
        "vocab_size": 8192,
        "num_kv_pairs": 4,
        "power_a": 0.01,
        "random_non_queries": True,
        "solved_acc": 0.99,
    }
    blank = 0  # the target of unscored steps: the filler id, never a value

    def _configure(self) -> None:
        p, name = self.params, self.name
        p["vocab_size"] = check_int(name, "vocab_size", p["vocab_size"], low=4)
        half = p["vocab_size"] // 2
        p["num_kv_pairs"] = check_int(name, "num_kv_pairs", p["num_kv_pairs"], 1, half - 1)
        p["power_a"] = check_float(name, "power_a", p["power_a"], 1e-6, 1.0)
        p["random_non_queries"] = check_choice(
            name, "random_non_queries", p["random_non_queries"], (True, False)
        )
        self._configure_solved()
        self.input_size = p["vocab_size"]
        self.output_size = p["vocab_size"]

    def min_length(self) -> int:
        return 4 * self.params["num_kv_pairs"]

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        p, dev = self.params, generator.device
        v, k = p["vocab_size"], p["num_kv_pairs"]
        half = v // 2
        key_pick = torch.rand(n, half - 1, generator=generator, device=dev).argsort(dim=1)
        keys = 1 + key_pick[:, :k]
        value_pick = torch.rand(n, v - half, generator=generator, device=dev).argsort(dim=1)
        values = half + value_pick[:, :k]
        context = 2 * k
        space = (length - context) // 2
        gaps = draw_without_replacement(gap_log_weights(space, p["power_a"]), n, k, generator)
        query_at = context + 2 * gaps  # (n, k)

        if p["random_non_queries"]:
            x = torch.randint(v, (n, length), generator=generator, device=dev)
        else:
            x = torch.zeros(n, length, dtype=torch.long, device=dev)
        x[:, 0:context:2] = keys
        x[:, 1:context:2] = values
        x.scatter_(1, query_at, keys)
        y = torch.full((n, length), self.blank, dtype=torch.long, device=dev)
        y.scatter_(1, query_at, values)
        mask = torch.zeros(n, length, dtype=torch.bool, device=dev)
        mask.scatter_(1, query_at, True)
        return x, y, mask

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k value steps (1, 3, ..., 2k - 1) and the first query step, where a value is
        first asked for."""
        k = self.params["num_kv_pairs"]
        inputs = (1 + 2 * torch.arange(k, device=x.device)).expand(x.shape[0], k)
        return inputs, mask.long().argmax(dim=1)

    def baseline(self, length: int | None = None) -> float:
        """Cross-entropy of the best input-independent prediction on the query steps:
        ln(V - V/2), the number of value ids.

        Each scored target is a value, and the values are a uniformly drawn set of k distinct
        ids of the upper half, so each one on its own is uniform over the V - V/2 value ids
        (by symmetry of the draw); the best input-independent prediction is that uniform
        distribution (chance accuracy 1 / (V - V/2)), with cross-entropy ln(V - V/2) (ln 4096
        = 8.318 at V = 8192). Independent of `length`.
        """
        v = self.params["vocab_size"]
        return math.log(v - v // 2)
