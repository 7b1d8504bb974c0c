"""Activation functions selectable by name (`activation`, `recurrent_activation` options)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Activation = Callable[[Tensor], Tensor]


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 2's hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    This is the definition of ``keras.backend.hard_sigmoid`` in Keras 1/2 (and tf.keras 2.x),
    the function old Keras LSTMs used as their default ``recurrent_activation``. Keras 3 and
    ``torch.nn.functional.hardsigmoid`` use a different slope (``relu6(x + 3) / 6``).
    """
    return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)


def identity(x: Tensor) -> Tensor:
    """The identity (Keras's ``linear``)."""
    return x


ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": torch.relu,
    "linear": identity,
}
RECURRENT_ACTIVATIONS: tuple[str, ...] = ("sigmoid", "hard_sigmoid")


def get_activation(option: str, value: object,
                   accepted: tuple[str, ...] | None = None) -> Activation:
    """Return the activation named `value`; ValueError naming `option` and what it accepts."""
    accepted = tuple(ACTIVATIONS) if accepted is None else accepted
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{option}={value!r} is not valid; accepted: {', '.join(accepted)}")
    return ACTIVATIONS[value]
