"""The Elman RNN cell, h = act(W x + b_ih + R h_prev + b_hh): the math of `torch.nn.RNN`."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from variants.activations import get_activation
from variants.cell import Carry, Cell


class ElmanCell(Cell):
    """Vanilla (Elman 1990) RNN; ``nonlinearity`` is ``tanh`` (default) or ``relu`` as in torch.

    It has no gates to record; its gradient flow through time is still measured.
    """

    name = "rnn"
    blocks = ("h",)
    state_names = ("h",)
    options = {"nonlinearity": "tanh"}

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        self.act = get_activation("nonlinearity", self.nonlinearity, ("tanh", "relu"))

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        return (self.act(xp_t + hp_t),)
