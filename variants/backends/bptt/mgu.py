"""BPTT kernel of the MGU (`variants.cells.mgu`; Zhou et al. 2016), torch ops.

Forward, per step: a_f = xp_f + U_f h_{t-1}, f = sigmoid(a_f); a_n = xp_n + U_n (f h_{t-1}),
n = tanh(a_n); h_t = h_{t-1} + f (n - h_{t-1}); the row of xp becomes [f, n] and f h_{t-1} is
kept for dU_n. Backward (dh_t: the output gradient at t plus the gradient from step t + 1)::

    d a_n = dh_t f (1 - n^2);     d(f h) = d a_n U_n
    d a_f = (dh_t (n - h_{t-1}) + d(f h) h_{t-1}) f (1 - f)
    dh_{t-1} = dh_t (1 - f) + d(f h) f + d a_f U_f (+ the output gradient at t - 1)

written over the row of xp; dU_f = sum d a_f^T h_{t-1}, dU_n = sum d a_n^T (f h_{t-1}).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class MGUKernel:
    """Pointwise forward/backward of the MGU; weights = (W_hh (2H, H): rows U_f, U_n)."""

    n_state = 1
    gate_blocks = 2
    overwrites = ("gates",)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (w_hh,) = weights
        steps, batch, gh = xp.shape
        hidden = gh // 2
        u_f_t, u_n_t = w_hh[:hidden].t(), w_hh[hidden:].t()
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        fhs = xp.new_empty(steps, batch, hidden)
        gates = xp  # a row becomes [f, n] once its step is done
        a_l, h_l, fh_l = gates.unbind(0), hs.unbind(0), fhs.unbind(0)
        for t in range(steps):
            row, h = a_l[t], h_l[t]
            f = row[:, :hidden].addmm_(h, u_f_t).sigmoid_()
            fh = torch.mul(f, h, out=fh_l[t])
            n = row[:, hidden:].addmm_(fh, u_n_t).tanh_()
            torch.addcmul(h, f, n - h, out=h_l[t + 1])
        saved = {"gates": gates, "fhs": fhs, "hs": hs, "w_hh": w_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, fhs, hs, w_hh = (saved[k] for k in ("gates", "fhs", "hs", "w_hh"))
        steps, batch, hidden = fhs.shape
        u_f, u_n = w_hh[:hidden], w_hh[hidden:]
        f, n = gates[..., :hidden].clone(), gates[..., hidden:].clone()
        h_prev = hs[:-1]
        k_n = f * (1 - n * n)  # d a_n / d h_t
        k_f = f * (1 - f)
        diff = n - h_prev
        d_a = gates
        d_a_l, d_out_l = d_a.unbind(0), d_out.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            row = d_a_l[t]
            d_an = torch.mul(dh, k_n[t], out=row[:, hidden:])
            d_fh = torch.mm(d_an, u_n)
            d_f = torch.addcmul(dh * diff[t], d_fh, h_prev[t])
            d_af = torch.mul(d_f, k_f[t], out=row[:, :hidden])
            base = d_out_l[t - 1] if t > 0 else torch.zeros_like(dh)
            dh = torch.addcmul(base, dh, 1 - f[t]).addcmul_(d_fh, f[t]).addmm_(d_af, u_f)
        flat = d_a.view(-1, 2 * hidden)
        d_w = torch.cat((flat[:, :hidden].t() @ h_prev.reshape(-1, hidden),
                         flat[:, hidden:].t() @ fhs.reshape(-1, hidden)))
        return d_a, (dh,), (d_w,)
