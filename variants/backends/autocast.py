"""The hand-written backends (`bptt`, `triton`) under autocast run their recurrence in float32.

Autocast (Lightning's ``precision="bf16-mixed"`` / ``"16-mixed"``) casts the inputs of listed
torch ops, but not of a custom autograd Function: the layer would get a bf16 input with fp32
weights, and the kernels take one dtype. So inside these backends autocast is off and the input,
state and weights are cast to float32 (the compiled CPU step is float32, and bf16 is no faster on
CPU); the output stays float32 and the next autocast op casts it again. Gradients reach the
fp32 parameters unchanged and a bf16 input in its own dtype. `reference` and `cudnn` keep torch's
own autocast rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

from variants.engine import LayerWeights

Run = TypeVar("Run", bound=Callable)


def autocasting(x: Tensor) -> bool:
    """Whether autocast is on for x's device type."""
    return torch.is_autocast_enabled(x.device.type)


def _fp32(t: Tensor | None) -> Tensor | None:
    return t.float() if t is not None and t.is_floating_point() else t


def float32_weights(weights: LayerWeights) -> LayerWeights:
    """The layer's weights as the hand-written backends take them under autocast."""
    return LayerWeights(_fp32(weights.weight_ih), _fp32(weights.weight_hh),
                        _fp32(weights.bias_ih), _fp32(weights.bias_hh),
                        {k: _fp32(v) for k, v in weights.extra.items()})


def float32_under_autocast(run: Run) -> Run:
    """Wrap a backend so that, under autocast, it runs in float32 with autocast off."""

    @functools.wraps(run)
    def wrapper(cell, x: Tensor, state: tuple[Tensor, ...], weights: LayerWeights,
                reverse: bool = False, recurrent_mask: Tensor | None = None):
        if not autocasting(x):
            return run(cell, x, state, weights, reverse, recurrent_mask)
        weights = float32_weights(weights)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return run(cell, _fp32(x), tuple(_fp32(s) for s in state), weights, reverse,
                       _fp32(recurrent_mask))

    return wrapper  # type: ignore[return-value]
