"""BPTT kernel of the Elman RNN: h_t = act(xp_t + R h_{t-1}) (torch.nn.RNN; bias inside xp)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from variants.backends.bptt.activations import activation


class ElmanKernel:
    """Pointwise forward/backward of h = act(a); weights = (W_hh,)."""

    n_state = 1
    gate_blocks = 1
    overwrites: tuple[str, ...] = ()

    def __init__(self, nonlinearity: str = "tanh") -> None:
        act = activation(nonlinearity)
        if act is None:
            raise ValueError(f"bptt rnn: nonlinearity must be tanh or relu, got {nonlinearity!r}")
        self.act = act

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (w_hh,) = weights
        steps, batch, hidden = xp.shape
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        w_t = w_hh.t()
        for t in range(steps):
            h = torch.addmm(xp[t], hs[t], w_t, out=hs[t + 1])
            self.act.apply_(h)
        out = hs[1:]
        saved = {"hs": hs, "w_hh": w_hh}
        return out, (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        hs, w_hh = saved["hs"], saved["w_hh"]
        steps = hs.shape[0] - 1
        deriv = self.act.derivative(hs[1:])
        d_a = torch.empty_like(deriv)
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            torch.mul(dh, deriv[t], out=d_a[t])
            if t > 0:
                dh = torch.addmm(d_out[t - 1], d_a[t], w_hh)
        dh0 = d_a[0] @ w_hh
        hidden = hs.shape[2]
        d_w = d_a.view(-1, hidden).t() @ hs[:-1].reshape(-1, hidden)
        return d_a, (dh0,), (d_w,)
