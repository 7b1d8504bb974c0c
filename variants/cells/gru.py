"""GRU cells: `gru` is torch/cuDNN's reset-after form, `gru_cho` Cho et al.'s reset-before form.

Both use torch's parameter layout (blocks r, z, n; ``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``) and torch's convention that z keeps the old state: h = (1 - z) n + z h_prev.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from variants.activations import RECURRENT_ACTIVATIONS, get_activation
from variants.cell import Carry, Cell, StepWeights


class GRUCell(Cell):
    """GRU with the reset gate applied AFTER the recurrent matmul (torch.nn.GRU, cuDNN).

    r = s(W_r x + b_ir + R_r h + b_hr), z = s(W_z x + b_iz + R_z h + b_hz),
    n = act(W_n x + b_in + r * (R_n h + b_hn)), h' = (1 - z) * n + z * h.
    ``b_hn`` sits inside the reset product, so b_hh is not folded into the input projection.
    """

    name = "gru"
    blocks = ("r", "z", "n")
    state_names = ("h",)
    options = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    fold_recurrent_bias = False
    gates = ("r", "z")
    candidates = ("n",)
    keep_gate = "z"  # torch's convention: z keeps h_prev (Chung et al. 2014 write 1 - z)

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        self.act = get_activation("activation", self.activation)
        self.gate = get_activation("recurrent_activation", self.recurrent_activation,
                                   RECURRENT_ACTIVATIONS)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        h_prev = carry[0]
        xr, xz, xn = xp_t.chunk(3, 1)
        hr, hz, hn = hp_t.chunk(3, 1)
        r = self.gate(xr + hr)
        z = self.gate(xz + hz)
        n = self.act(torch.addcmul(xn, r, hn))
        self.record_gates(r=r, z=z, n=n)
        return (torch.addcmul(n, z, h_prev - n),)


class GRUChoCell(GRUCell):
    """GRU with the reset gate applied BEFORE the recurrent matmul (Cho et al. 2014, eqs. 5-8).

    r, z as in `gru`; n = act(W_n x + b_in + R_n (r * h) + b_hn); h' = (1 - z) * n + z * h.
    All biases add linearly here, so b_hh is folded into the input projection.
    """

    name = "gru_cho"
    fold_recurrent_bias = True

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        hidden = self.hidden_size
        rz_t, n_t = weights.weight_hh_t.split((2 * hidden, hidden), dim=1)
        return StepWeights(rz_t, weights.bias_hh, {**weights.extra, "weight_hh_n_t": n_t})

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        h_prev = carry[0]
        xr, xz, xn = xp_t.chunk(3, 1)
        hr, hz = torch.mm(h_in, weights.weight_hh_t).chunk(2, 1)
        r = self.gate(xr + hr)
        z = self.gate(xz + hz)
        n = self.act(torch.addmm(xn, r * h_in, weights.extra["weight_hh_n_t"]))
        self.record_gates(r=r, z=z, n=n)
        return (torch.addcmul(n, z, h_prev - n),)
