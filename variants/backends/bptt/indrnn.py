"""BPTT kernel of the IndRNN (`variants.cells.indrnn`; Li et al. 2018, eq. 2), torch ops.

Forward: h_t = act(xp_t + u * h_{t-1}), one addcmul and the activation per step (no matmul).
Backward, with a_t the pre-activation and act' read from h_t (relu: h > 0; tanh: 1 - h^2)::

    d a_t = dh_t act'(h_t);   dh_{t-1} = d a_t u (+ the output gradient at t - 1)
    d u = sum_t sum_batch d a_t h_{t-1}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class IndRNNKernel:
    """Pointwise forward/backward of the IndRNN; weights = (u (H,),)."""

    n_state = 1
    gate_blocks = 1
    overwrites: tuple[str, ...] = ()

    def __init__(self, nonlinearity: str = "relu") -> None:
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(f"bptt indrnn: nonlinearity must be relu or tanh, got "
                             f"{nonlinearity!r}")
        self.relu = nonlinearity == "relu"

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (u,) = weights
        steps, batch, hidden = xp.shape
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        h_l, x_l = hs.unbind(0), xp.unbind(0)
        for t in range(steps):
            h = torch.addcmul(x_l[t], u, h_l[t], out=h_l[t + 1])
            h.relu_() if self.relu else h.tanh_()
        return hs[1:], (hs[steps].clone(),), {"hs": hs, "u": u}

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        hs, u = saved["hs"], saved["u"]
        steps = hs.shape[0] - 1
        out = hs[1:]
        deriv = (out > 0).to(out.dtype) if self.relu else 1 - out * out
        d_a = torch.empty_like(deriv)
        d_out_l, d_a_l, deriv_l = d_out.unbind(0), d_a.unbind(0), deriv.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            torch.mul(dh, deriv_l[t], out=d_a_l[t])
            if t > 0:
                dh = torch.addcmul(d_out_l[t - 1], d_a_l[t], u)
        dh0 = d_a[0] * u
        d_u = (d_a * hs[:-1]).sum((0, 1))
        return d_a, (dh0,), (d_u,)
