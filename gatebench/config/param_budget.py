"""Parameter matching: the hidden size whose whole model comes closest to a parameter budget.

`model.param_budget=N` gives every cell the hidden size H whose trainable parameter count of the
*whole* model (encoder + recurrent layer + readout, as `variants.count_parameters` counts the
`SequenceModel`) is closest to N, so cells are compared at equal capacity (as in Collins,
Sohl-Dickstein & Sussillo 2017, "Capacity and trainability in recurrent neural networks"), not
at equal width. Ties go to the smaller H.

The count of any such model is a polynomial of degree <= 2 in H (matrices H x H, H x I, I x H
and vectors of H), so it is read off from models built at H = 1, 2, 3 (checked at H = 4), and
the chosen H is the integer nearest a root of count(H) = N.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any


def whole_model_count(
    task: Any, variant: Mapping[str, Any], hidden_size: int, encoder_size: int | None
) -> int:
    """Trainable parameters of the `SequenceModel` for `variant` at `hidden_size` (built once,
    on torch's global RNG state forked, so the run's seeding is untouched)."""
    import torch

    import variants
    from gatebench.training.model import SequenceModel

    with torch.random.fork_rng(devices=[]):
        model = SequenceModel(
            task, {**variant, "hidden_size": hidden_size}, {}, encoder_size=encoder_size
        )
    return variants.count_parameters(model)


def closest_hidden_size(count: Callable[[int], int], budget: int) -> tuple[int, int]:
    """(H, count(H)) with |count(H) - budget| smallest over H >= 1 (ties: the smaller H), for a
    `count` that is a non-decreasing polynomial of degree <= 2 in H.

    Raises ValueError when the budget is smaller than count(1), the smallest model.
    """
    c1, c2, c3 = count(1), count(2), count(3)
    a = (c3 - 2 * c2 + c1) / 2
    b = c2 - c1 - 3 * a
    c = c1 - a - b

    def poly(h: int) -> int:
        return int(round(a * h * h + b * h + c))

    if poly(4) != count(4):
        raise RuntimeError("the model's parameter count is not quadratic in hidden_size")
    if budget < c1:
        raise ValueError(f"is smaller than the smallest model ({c1} parameters at hidden_size 1)")
    if a > 0:
        root = (-b + math.sqrt(b * b - 4 * a * (c - budget))) / (2 * a)
    elif b > 0:
        root = (budget - c) / b
    else:  # the count does not grow with H: the smallest model is as close as any
        return 1, c1
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    best = min(candidates, key=lambda h: (abs(poly(h) - budget), h))
    return best, poly(best)


def match_hidden_size(
    task: Any, variant: Mapping[str, Any], budget: int, encoder_size: int | None = None
) -> tuple[int, int]:
    """(hidden size, whole-model parameter count) closest to `budget` for this cell and task."""
    return closest_hidden_size(
        lambda h: whole_model_count(task, variant, h, encoder_size), int(budget)
    )
