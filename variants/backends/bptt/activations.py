"""Activations for the hand-written BPTT backend: in-place forward and derivative from the output.

Every derivative here is written in terms of the activation's *output* y, so the backward pass
needs only the activations saved by the forward pass (no pre-activations are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# Keras 2 `hard_sigmoid`: y = clip(0.2 x + 0.5, 0, 1); slope 0.2 inside (0, 1), 0 outside.
HARD_SIGMOID_SLOPE = 0.2


@dataclass(frozen=True)
class Activation:
    """One activation: `apply_` activates a tensor in place, `derivative` maps y to dy/dx."""

    name: str
    apply_: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    derivative_out: Callable[[Tensor, Tensor], Tensor] | None = None  # (y, out), no allocation

    def derivative_into(self, y: Tensor, out: Tensor) -> Tensor:
        """dy/dx written into `out` (same shape as y); returns out."""
        if self.derivative_out is not None:
            return self.derivative_out(y, out)
        return out.copy_(self.derivative(y))


def _sigmoid_derivative_out(y: Tensor, out: Tensor) -> Tensor:
    return torch.sub(1, y, out=out).mul_(y)  # y (1 - y)


def _tanh_derivative_out(y: Tensor, out: Tensor) -> Tensor:
    return torch.mul(y, y, out=out).neg_().add_(1)  # 1 - y^2


def _hard_sigmoid_(x: Tensor) -> Tensor:
    return x.mul_(HARD_SIGMOID_SLOPE).add_(0.5).clamp_(0.0, 1.0)


def _hard_sigmoid_derivative(y: Tensor) -> Tensor:
    inside = (y > 0) & (y < 1)
    return inside.to(y.dtype) * HARD_SIGMOID_SLOPE


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", torch.sigmoid_, lambda y: y * (1 - y),
                          _sigmoid_derivative_out),
    "tanh": Activation("tanh", torch.tanh_, lambda y: 1 - y * y, _tanh_derivative_out),
    "hard_sigmoid": Activation("hard_sigmoid", _hard_sigmoid_, _hard_sigmoid_derivative),
    "relu": Activation("relu", torch.relu_, lambda y: (y > 0).to(y.dtype)),
}


def activation(name: str | None) -> Activation | None:
    """The activation called `name`; None or "identity"/"linear" means no activation."""
    if name is None or name in ("identity", "linear"):
        return None
    if name not in ACTIVATIONS:
        raise ValueError(
            f"bptt backend: activation {name!r} has no hand-written derivative; "
            f"accepts {sorted(ACTIVATIONS)} or 'identity'"
        )
    return ACTIVATIONS[name]
