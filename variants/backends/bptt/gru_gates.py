"""BPTT kernel of Dey & Salem's GRU1/GRU2/GRU3 (`variants.cells.gru_gates`), torch ops.

Forward, per step (gates from h_{t-1} and/or their bias only; xp = W_n x + b_n)::

    p = [b_r, b_z] + [U_r; U_z] h_{t-1}     (GRU1; GRU2 drops b, GRU3 drops U)
    r, z = sigmoid(p);   n = tanh(xp_t + U_n (r h_{t-1}));   h_t = n + z (h_{t-1} - n)

xp's row becomes n; r, z and r h_{t-1} are kept. Backward (dh_t: the output gradient at t plus
the gradient from step t + 1)::

    d a_n = dh_t (1 - z) (1 - n^2);   d(r h) = d a_n U_n
    d p_r = d(r h) h_{t-1} r (1 - r);   d p_z = dh_t (h_{t-1} - n) z (1 - z)
    dh_{t-1} = dh_t z + d(r h) r + d p [U_r; U_z] (+ the output gradient at t - 1)

dU_n = sum d a_n^T (r h_{t-1}), d[U_r; U_z] = sum d p^T h_{t-1}, d[b_r, b_z] = sum d p.
The activations are the paper's (tanh, sigmoid); other options are refused.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class GRUGateKernel:
    """Pointwise forward/backward; weights = (U_n (H, H), [U_rz (2H, H)], [b_rz (2H,)])."""

    n_state = 1
    gate_blocks = 1
    overwrites = ("gates",)

    def __init__(self, gate_recurrent: bool, gate_bias: bool) -> None:
        if not (gate_recurrent or gate_bias):
            raise ValueError("bptt gru gates: the gates need U or b")
        self.gate_recurrent, self.gate_bias = gate_recurrent, gate_bias

    def _split(self, weights: tuple[Tensor, ...]) -> tuple[Tensor, Tensor | None, Tensor | None]:
        rest = list(weights[1:])
        u_rz = rest.pop(0) if self.gate_recurrent else None
        b_rz = rest.pop(0) if self.gate_bias else None
        return weights[0], u_rz, b_rz

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        u_n, u_rz, b_rz = self._split(weights)
        steps, batch, hidden = xp.shape
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        rz = xp.new_empty(steps, batch, 2 * hidden)
        rhs = xp.new_empty(steps, batch, hidden)
        u_n_t = u_n.t()
        u_rz_t = u_rz.t() if u_rz is not None else None
        gates = xp  # a row becomes n once its step is done
        n_l, h_l, rz_l, rh_l = gates.unbind(0), hs.unbind(0), rz.unbind(0), rhs.unbind(0)
        for t in range(steps):
            h = h_l[t]
            p = rz_l[t]
            if u_rz_t is not None and b_rz is not None:
                torch.addmm(b_rz, h, u_rz_t, out=p)
            elif u_rz_t is not None:
                torch.mm(h, u_rz_t, out=p)
            else:
                p.copy_(b_rz.expand(batch, -1))
            p.sigmoid_()
            rh = torch.mul(p[:, :hidden], h, out=rh_l[t])
            n = n_l[t].addmm_(rh, u_n_t).tanh_()
            torch.addcmul(n, p[:, hidden:], h - n, out=h_l[t + 1])
        saved = {"gates": gates, "rz": rz, "rhs": rhs, "hs": hs, "weights": (u_n, u_rz, b_rz)}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, rz, rhs, hs = (saved[k] for k in ("gates", "rz", "rhs", "hs"))
        u_n, u_rz, b_rz = saved["weights"]
        steps, batch, hidden = gates.shape
        r, z = rz[..., :hidden], rz[..., hidden:]
        n, h_prev = gates, hs[:-1]
        # factors that need no carried gradient, for all steps at once
        k_n = (1 - z) * (1 - n * n)
        k_r = h_prev * r * (1 - r)
        k_z = (h_prev - n) * z * (1 - z)
        d_p = torch.empty_like(rz)
        d_an = gates  # overwritten row by row (n is folded into the factors above)
        d_an_l, d_p_l, d_out_l = d_an.unbind(0), d_p.unbind(0), d_out.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            d_a = torch.mul(dh, k_n[t], out=d_an_l[t])
            d_rh = torch.mm(d_a, u_n)
            torch.mul(d_rh, k_r[t], out=d_p_l[t][:, :hidden])
            torch.mul(dh, k_z[t], out=d_p_l[t][:, hidden:])
            base = d_out_l[t - 1] if t > 0 else torch.zeros_like(dh)
            dh = torch.addcmul(base, dh, z[t]).addcmul_(d_rh, r[t])
            if u_rz is not None:
                dh.addmm_(d_p_l[t], u_rz)
        d_weights = [d_an.view(-1, hidden).t() @ rhs.reshape(-1, hidden)]
        flat_p = d_p.view(-1, 2 * hidden)
        if u_rz is not None:
            d_weights.append(flat_p.t() @ h_prev.reshape(-1, hidden))
        if b_rz is not None:
            d_weights.append(flat_p.sum(0))
        return d_an, (dh,), tuple(d_weights)
