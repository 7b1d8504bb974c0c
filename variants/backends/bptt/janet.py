"""BPTT kernel of JANET (`variants.cells.janet`; van der Westhuizen & Lasenby 2018), torch ops.

Forward, per step: one in-place addmm (a = xp_t + R h_{t-1}, blocks s, c) and the pointwise math
f = sigmoid(s), i = 1 - sigmoid(s - beta), g = tanh(a_c), h_t = f h_{t-1} + i g; the row of xp
becomes [f, g] and i is kept beside it. Backward (dh_t: the output gradient at t plus the
gradient from step t + 1)::

    d s   = dh_t (h_{t-1} f (1 - f) - g i (1 - i))
    d a_c = dh_t i (1 - g^2)
    dh_{t-1} = dh_t f + [d s, d a_c] R (+ the output gradient at t - 1)

written over the row of xp; dR is one matmul over all steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class JANETKernel:
    """Pointwise forward/backward of JANET; weights = (W_hh (2H, H),)."""

    n_state = 1
    gate_blocks = 2
    overwrites = ("gates",)

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (w_hh,) = weights
        steps, batch, gh = xp.shape
        hidden = gh // 2
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        ins = xp.new_empty(steps, batch, hidden)
        gates = xp  # a row becomes [f, g] once its step is done
        w_t = w_hh.t()
        a_l, h_l, i_l = gates.unbind(0), hs.unbind(0), ins.unbind(0)
        for t in range(steps):
            a = a_l[t].addmm_(h_l[t], w_t)
            s, g = a[:, :hidden], a[:, hidden:]
            torch.sigmoid(s - self.beta, out=i_l[t]).neg_().add_(1.0)
            f = s.sigmoid_()
            g.tanh_()
            torch.mul(f, h_l[t], out=h_l[t + 1]).addcmul_(i_l[t], g)
        saved = {"gates": gates, "ins": ins, "hs": hs, "w_hh": w_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, ins, hs, w_hh = (saved[k] for k in ("gates", "ins", "hs", "w_hh"))
        steps, batch, hidden = ins.shape
        f, g = gates[..., :hidden], gates[..., hidden:]
        # factors that need no carried gradient, for all steps at once
        k_s = hs[:-1] * f * (1 - f) - g * ins * (1 - ins)
        k_c = ins * (1 - g * g)
        f_keep = f.clone()  # the rows of gates are overwritten below
        d_a = gates
        d_a_l, d_out_l = d_a.unbind(0), d_out.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            row = d_a_l[t]
            torch.mul(dh, k_s[t], out=row[:, :hidden])
            torch.mul(dh, k_c[t], out=row[:, hidden:])
            base = d_out_l[t - 1] if t > 0 else torch.zeros_like(dh)
            dh = torch.addcmul(base, dh, f_keep[t]).addmm_(row, w_hh)
        d_w = d_a.view(-1, 2 * hidden).t() @ hs[:-1].reshape(-1, hidden)
        return d_a, (dh,), (d_w,)
