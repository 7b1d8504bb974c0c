"""BPTT kernel of the UR-LSTM (`variants.cells.urlstm`; Gu et al. 2020), torch ops.

Forward, per step: one in-place addmm (a = xp_t + R h_{t-1}, blocks f, r, u, o) and
f = sigmoid(a_f + b), r = sigmoid(a_r - b), g = f^2 + r (2 f - 2 f^2), u = tanh(a_u),
c_t = u + g (c_{t-1} - u), o = sigmoid(a_o), h_t = o tanh(c_t); the row of xp becomes
[f, r, u, o]. Backward (dh_t, dc_t carried from step t + 1)::

    y = tanh(c_t);  d a_o = dh_t y o (1 - o);  dc = dc_t + dh_t o (1 - y^2)
    dg = dc (c_{t-1} - u);  d a_u = dc (1 - g) (1 - u^2);  dc_{t-1} = dc g
    d a_f = dg (2 f + r (2 - 4 f)) f (1 - f);  d a_r = dg (2 f - 2 f^2) r (1 - r)
    db += d a_f - d a_r;  dh_{t-1} = d a R (+ the output gradient at t - 1)

written over the row of xp; dR is one matmul over all steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class URLSTMKernel:
    """Pointwise forward/backward of the UR-LSTM; weights = (W_hh (4H, H), b_f (H,))."""

    n_state = 2
    gate_blocks = 4
    overwrites = ("gates",)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh, bias = weights
        steps, batch, gh = xp.shape
        hidden = gh // 4
        hs = xp.new_empty(steps + 1, batch, hidden)
        cs = xp.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = state0
        gates = xp  # a row becomes [f, r, u, o] once its step is done
        w_t = w_hh.t()
        a_l, h_l, c_l = gates.unbind(0), hs.unbind(0), cs.unbind(0)
        for t in range(steps):
            a = a_l[t].addmm_(h_l[t], w_t)
            f = a[:, :hidden].add_(bias).sigmoid_()
            r = a[:, hidden:2 * hidden].sub_(bias).sigmoid_()
            u = a[:, 2 * hidden:3 * hidden].tanh_()
            o = a[:, 3 * hidden:].sigmoid_()
            f2 = f * f
            g = torch.addcmul(f2, r, 2.0 * f - 2.0 * f2)
            c = torch.addcmul(u, g, c_l[t] - u, out=c_l[t + 1])
            torch.mul(o, torch.tanh(c), out=h_l[t + 1])
        saved = {"gates": gates, "hs": hs, "cs": cs, "w_hh": w_hh}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, hs, cs, w_hh = (saved[k] for k in ("gates", "hs", "cs", "w_hh"))
        steps, batch, gh = gates.shape
        hidden = gh // 4
        f, r, u, o = (gates[..., k * hidden:(k + 1) * hidden].clone() for k in range(4))
        # factors that need no carried gradient, for all steps at once
        f2 = f * f
        g = f2 + r * (2.0 * f - 2.0 * f2)
        y = torch.tanh(cs[1:])
        k_o = y * o * (1 - o)
        k_c = o * (1 - y * y)
        k_g = cs[:-1] - u
        k_u = (1 - g) * (1 - u * u)
        k_f = (2.0 * f + r * (2.0 - 4.0 * f)) * f * (1 - f)
        k_r = (2.0 * f - 2.0 * f2) * r * (1 - r)
        d_a = gates
        d_a_l, d_out_l = d_a.unbind(0), d_out.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        dc = d_final[1].clone()
        d_bias = torch.zeros_like(dh[0])
        for t in range(steps - 1, -1, -1):
            row = d_a_l[t]
            dc = dc.addcmul_(dh, k_c[t])
            dg = dc * k_g[t]
            d_af = torch.mul(dg, k_f[t], out=row[:, :hidden])
            d_ar = torch.mul(dg, k_r[t], out=row[:, hidden:2 * hidden])
            torch.mul(dc, k_u[t], out=row[:, 2 * hidden:3 * hidden])
            torch.mul(dh, k_o[t], out=row[:, 3 * hidden:])
            d_bias += (d_af - d_ar).sum(0)
            dc = dc * g[t]
            base = d_out_l[t - 1] if t > 0 else torch.zeros_like(dh)
            dh = torch.addmm(base, row, w_hh)
        d_w = d_a.view(-1, gh).t() @ hs[:-1].reshape(-1, hidden)
        return d_a, (dh, dc), (d_w, d_bias)
