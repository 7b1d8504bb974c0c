"""Marked-pair sequences (value, marker per step) shared by the adding and multiplication tasks."""

from __future__ import annotations

import torch

from tasks.base import Task, check_choice

FORMS = ("modern", "original")


def marker_positions(
    n: int, length: int, form: str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions `(p1, p2)`, each `(n,)`, of the two marked steps.

    modern (Le et al. 2015; Arjovsky et al. 2016): p1 uniform in the first half [0, T//2), p2
    uniform in the second half [T//2, T).
    original (Hochreiter & Schmidhuber 1997, exp. 4): p1 uniform among the first ten steps;
    p2 uniform among the first T//2 - 1 steps that p1 left unmarked (drawn as r in
    [0, T//2 - 2], shifted by one past p1), so p1 != p2.
    """
    dev = generator.device
    half = length // 2
    if form == "modern":
        p1 = torch.randint(half, (n,), generator=generator, device=dev)
        p2 = half + torch.randint(length - half, (n,), generator=generator, device=dev)
        return p1, p2
    p1 = torch.randint(10, (n,), generator=generator, device=dev)
    r = torch.randint(half - 1, (n,), generator=generator, device=dev)
    return p1, r + (r >= p1).long()


def marked_inputs(
    values: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, form: str
) -> torch.Tensor:
    """Stack `values` `(n, T)` with the marker channel into `(n, T, 2)`.

    The marker is 1 at p1 and p2 and 0 elsewhere; the original form also marks the first and
    the last step with -1 where they are not marked (H&S 1997, exp. 4).
    """
    markers = torch.zeros_like(values)
    if form == "original":
        markers[:, 0] = -1.0
        markers[:, -1] = -1.0
    markers.scatter_(1, p1[:, None], 1.0)
    markers.scatter_(1, p2[:, None], 1.0)
    return torch.stack([values, markers], dim=-1)


class MarkedPairsTask:
    """Mixin for the two-channel marked-pair tasks: checks `form`, sets sizes and min length."""

    def _configure(self: Task) -> None:
        self.params["form"] = check_choice(self.name, "form", self.params["form"], FORMS)
        self.input_size = 2
        self.output_size = 1
        self._configure_solved()

    def relevant_positions(
        self: Task, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two marked steps (marker channel == 1) and the last step, where it is read."""
        inputs = (x[..., 1] == 1).nonzero()[:, 1].view(x.shape[0], 2)
        return inputs, torch.full((x.shape[0],), x.shape[1] - 1, device=x.device)

    def min_length(self: Task) -> int:
        # original: the first marker goes among the first ten steps, before the final step.
        return 11 if self.params["form"] == "original" else 2
