"""Continual adding: adding problems back to back, answered at each segment's end (forgetting)."""

from __future__ import annotations

import torch

from tasks.base import Batch, check_int
from tasks.families import RegressionTask


class ContinualAdding(RegressionTask):
    """The adding problem run continually: a cell must forget each answered sum.

    A stream of `length` steps is cut into segments of S = `segment_length` steps (when S does
    not divide `length`, the last `length mod S` steps are unmarked values with no answer); each
    whole segment is one adding problem in the modern form of Le et al. 2015
    and Arjovsky et al. 2016 (values U[0, 1], one marker in each half of the segment), with no
    state reset between them. Input `(n, length, 3)`: (value, marker, end), where end is 1 on
    the last step of each segment, at which the target is that segment's X1 + X2 (loss MSE
    there only; readout at every step, `mask` on the segment ends). Carrying old sums over
    corrupts every later answer, so a cell must empty its memory after each end: the
    continual setting of Gers, Schmidhuber & Cummins 2000 ("Learning to forget: continual
    prediction with LSTM": an LSTM without a forget gate, whose cell state only accumulates,
    fails on continual input streams that are not cut into separate sequences) applied to the
    adding problem. A cell without a forget gate (Greff et al.'s NFG, f = 1) can only cancel a
    stored sum by learning to subtract it; testing on longer streams (`data.test_lengths`:
    more segments, the same lag) shows whether what it learned keeps the memory bounded.
    With `length == segment_length` it is the modern adding problem with an end marker.

    Parameters: `length` (steps of the stream; 200), `segment_length` (S, the lag of each
    problem; 10), `tolerance` (0.04), `solved_norm_mse` (0.05), `solved_tol_acc` (None); see
    `RegressionTask`.
    """

    name = "continual_adding"
    defaults = {
        "length": 200,
        "segment_length": 10,
        "tolerance": 0.04,
        "solved_norm_mse": 0.05,
        "solved_tol_acc": None,
    }
    readout = "every"

    def _configure(self) -> None:
        p = self.params
        p["segment_length"] = check_int(self.name, "segment_length", p["segment_length"], low=2)
        self.input_size = 3
        self.output_size = 1
        self._configure_solved()

    def min_length(self) -> int:
        return self.params["segment_length"]

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        seg, dev = self.params["segment_length"], generator.device
        s, half = length // seg, seg // 2  # a trailing partial segment holds no problem
        values = torch.rand(n, length, generator=generator, device=dev)
        start = seg * torch.arange(s, device=dev)
        p1 = start + torch.randint(half, (n, s), generator=generator, device=dev)
        p2 = start + half + torch.randint(seg - half, (n, s), generator=generator, device=dev)
        ends = (start + seg - 1).expand(n, s)
        markers = torch.zeros_like(values)
        markers.scatter_(1, p1, 1.0)
        markers.scatter_(1, p2, 1.0)
        end = torch.zeros_like(values)
        end.scatter_(1, ends, 1.0)
        y = torch.zeros(n, length, 1, device=dev)
        y[..., 0].scatter_(1, ends, values.gather(1, p1) + values.gather(1, p2))
        return torch.stack([values, markers, end], dim=-1), y, end.bool()

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first segment's two marked steps and its end, where their sum is read."""
        seg = self.params["segment_length"]
        inputs = (x[:, :seg, 1] == 1).nonzero()[:, 1].view(x.shape[0], 2)
        return inputs, torch.full((x.shape[0],), seg - 1, dtype=torch.long, device=x.device)

    def baseline(self, length: int | None = None) -> float:
        """MSE of the best input-independent prediction at the segment ends: 1/6.

        Each scored target is X1 + X2 with X1, X2 independent U[0, 1] (the segments are
        independent), so the best constant is its mean 1 and its MSE is Var(X1 + X2) =
        2/12 = 1/6, as for the adding problem, at every length and segment length.
        """
        return 1.0 / 6.0
