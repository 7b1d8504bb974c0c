"""BPTT kernels of the GRU: torch/cuDNN's reset-after form and Cho et al. 2014's reset-before form.

Equations: `variants.cells.gru`. Blocks r, z, n; h = (1 - z) n + z h_prev.
reset-after (`gru`):  n = act(xp_n + r (R_n h_prev + b_hn)); weights = (W_hh, b_hh or None).
reset-before (`gru_cho`): n = act(xp_n + R_n (r h_prev)); weights = (W_hh,) (biases in xp).
On CPU in float32/float64 the reset-after kernel's pointwise step is one call of the compiled C
step (`native`) when a C compiler is present; otherwise its torch-op path below runs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from variants.backends import kernel_table
from variants.backends.bptt import native as bptt_native
from variants.backends.bptt.activations import activation

CHUNK = 32  # steps whose backward factors are computed together (cache-sized)


class GRUKernel:
    """Pointwise forward/backward of the reset-after GRU (torch.nn.GRU).

    The gates are activated in place in xp; ``recs`` keeps R h_{t-1} + b_hh per step (its n block
    is needed by d r). Backward overwrites ``recs`` with d(R h + b_hh) and the gates with d xp.
    """

    n_state = 1
    gate_blocks = 3
    overwrites = ("gates", "recs")

    def __init__(self, activation_name: str = "tanh", recurrent_activation: str = "sigmoid"):
        self.act = activation(activation_name)
        self.gate = activation(recurrent_activation)
        if self.gate is None:
            raise ValueError("bptt gru: recurrent_activation must not be the identity")

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh, b_hh = weights if len(weights) == 2 else (weights[0], None)
        steps, batch, gh = xp.shape
        hidden = gh // 3
        gates = xp  # activated in place, row by row
        recs = torch.empty_like(xp)
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        w_t = w_hh.t()
        rec_l, h_l = recs.unbind(0), hs.unbind(0)
        native = bptt_native.steps_for(xp.dtype, "gru") \
            if xp.device.type == "cpu" and xp.is_contiguous() else None
        if native is not None:  # one C call per step after the recurrent matmul
            step, codes = native[0], self._codes()
            row, state = batch * gh * xp.element_size(), batch * hidden * hs.element_size()
            g0, r0, h0 = gates.data_ptr(), recs.data_ptr(), hs.data_ptr()
            for t in range(steps):
                if b_hh is None:
                    torch.mm(h_l[t], w_t, out=rec_l[t])
                else:
                    torch.addmm(b_hh, h_l[t], w_t, out=rec_l[t])
                step(batch, hidden, *codes, g0 + t * row, r0 + t * row, h0 + t * state,
                     h0 + (t + 1) * state)
            saved = {"gates": gates, "recs": recs, "hs": hs, "w_hh": w_hh, "b_hh": b_hh,
                     "native_backward": native[1]}
            return hs[1:], (hs[steps].clone(),), saved
        arz_l = gates[:, :, : 2 * hidden].unbind(0)
        r_l = gates[:, :, :hidden].unbind(0)
        z_l = gates[:, :, hidden : 2 * hidden].unbind(0)
        n_l = gates[:, :, 2 * hidden :].unbind(0)
        rrz_l, rn_l = recs[:, :, : 2 * hidden].unbind(0), recs[:, :, 2 * hidden :].unbind(0)
        diff = xp.new_empty(batch, hidden)
        gate, act = self.gate, self.act
        for t in range(steps):
            if b_hh is None:
                torch.mm(h_l[t], w_t, out=rec_l[t])
            else:
                torch.addmm(b_hh, h_l[t], w_t, out=rec_l[t])
            gate.apply_(arz_l[t].add_(rrz_l[t]))
            n = n_l[t].addcmul_(r_l[t], rn_l[t])
            if act is not None:
                act.apply_(n)
            torch.addcmul(n, z_l[t], torch.sub(h_l[t], n, out=diff), out=h_l[t + 1])
        saved = {"gates": gates, "recs": recs, "hs": hs, "w_hh": w_hh, "b_hh": b_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def _codes(self) -> tuple[int, int]:
        """Activation codes of the compiled step: (gates, candidate)."""
        return (kernel_table.activation_code(self.gate.name),
                kernel_table.activation_code(None if self.act is None else self.act.name))

    def _backward_native(self, step, saved: dict[str, Any], d_out: Tensor,
                         d_final: tuple[Tensor, ...]):
        """`backward` with the compiled step: per step one C call and one addmm_."""
        gates, recs, hs, w_hh, b_hh = (saved[k] for k in ("gates", "recs", "hs", "w_hh", "b_hh"))
        steps, batch, gh = gates.shape
        hidden = hs.shape[2]
        d_out = d_out.contiguous()  # e.g. expanded ones from .sum()
        dh = torch.add(d_out[steps - 1], d_final[0])
        dh_prev, zeros = torch.empty_like(dh), torch.zeros_like(dh)
        work = gates.new_empty(3 * hidden)
        codes, d_rec_l = self._codes(), recs.unbind(0)
        row, state = batch * gh * gates.element_size(), batch * hidden * hs.element_size()
        g0, r0, h0, o0 = gates.data_ptr(), recs.data_ptr(), hs.data_ptr(), d_out.data_ptr()
        for t in range(steps - 1, -1, -1):
            d_out_prev = o0 + (t - 1) * state if t > 0 else zeros.data_ptr()
            step(batch, hidden, *codes, g0 + t * row, r0 + t * row, h0 + t * state,
                 dh.data_ptr(), d_out_prev, hidden, dh_prev.data_ptr(), work.data_ptr())
            dh_prev.addmm_(d_rec_l[t], w_hh)  # + d rec_t R: the gradient into h_{t-1}
            dh, dh_prev = dh_prev, dh
        flat = recs.view(-1, 3 * hidden)  # now d rec
        d_weights: list[Tensor] = [flat.t() @ hs[:-1].reshape(-1, hidden)]
        if b_hh is not None:
            d_weights.append(flat.sum(0))
        return gates, (dh,), tuple(d_weights)

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        if saved.get("native_backward") is not None:
            return self._backward_native(saved["native_backward"], saved, d_out, d_final)
        gates, recs, hs, w_hh, b_hh = (saved[k] for k in ("gates", "recs", "hs", "w_hh", "b_hh"))
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_rec, d_xp = recs, gates  # overwritten chunk by chunk, once the chunk's factors are taken
        z0 = gates[0, :, hidden : 2 * hidden].clone()
        d_hs = torch.empty_like(hs[1:])  # total gradient into h_t
        d_out_l, d_rec_l, d_hs_l = d_out.unbind(0), d_rec.unbind(0), d_hs.unbind(0)
        rows = min(CHUNK, steps)
        k_buf = gates.new_empty(rows, batch, 3, hidden)  # (k_r, k_z, k_n r): d rec = k dh
        kn_buf = gates.new_empty(rows, batch, hidden)  # k_n: d xp_n = k_n dh
        torch.add(d_out[steps - 1], d_final[0], out=d_hs[steps - 1])
        for hi in range(steps, 0, -CHUNK):
            lo = max(0, hi - CHUNK)
            g = gates[lo:hi]
            r, z, n = g[..., :hidden], g[..., hidden : 2 * hidden], g[..., 2 * hidden :]
            k_rec, k_n = k_buf[: hi - lo], kn_buf[: hi - lo]
            k_r, k_z, k_nr = k_rec.unbind(2)
            torch.sub(1, z, out=k_n)
            if self.act is not None:
                k_n.mul_(self.act.derivative_into(n, k_nr))
            torch.sub(hs[lo:hi], n, out=k_z).mul_(self.gate.derivative_into(z, k_r))
            self.gate.derivative_into(r, k_r).mul_(k_n).mul_(recs[lo:hi, :, 2 * hidden :])
            torch.mul(k_n, r, out=k_nr)
            for t in range(hi - 1, lo - 1, -1):
                dh = d_hs_l[t]
                torch.mul(k_rec[t - lo], dh.unsqueeze(1), out=d_rec_l[t].view(batch, 3, hidden))
                if t > 0:
                    torch.addmm(torch.addcmul(d_out_l[t - 1], dh, z[t - lo]), d_rec_l[t], w_hh,
                                out=d_hs_l[t - 1])
            dh_chunk = d_hs[lo:hi]
            d_x = d_xp[lo:hi]
            torch.mul(k_n, dh_chunk, out=d_x[..., 2 * hidden :])  # d xp_n = k_n dh (before r, z go)
            torch.mul(k_rec[..., :2, :], dh_chunk.unsqueeze(2),
                      out=d_x[..., : 2 * hidden].view(hi - lo, batch, 2, hidden))
        dh0 = torch.addmm(d_hs[0] * z0, d_rec[0], w_hh)
        flat = d_rec.view(-1, 3 * hidden)
        d_weights: list[Tensor] = [flat.t() @ hs[:-1].reshape(-1, hidden)]
        if b_hh is not None:
            d_weights.append(flat.sum(0))
        return d_xp, (dh0,), tuple(d_weights)


class GRUChoKernel(GRUKernel):
    """Pointwise forward/backward of the reset-before GRU (Cho et al. 2014, eqs. 5-8).

    The gates are activated in place in xp; backward overwrites them with d xp.
    """

    overwrites = ("gates",)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (w_hh,) = weights
        steps, batch, gh = xp.shape
        hidden = gh // 3
        w_rz_t, w_n_t = w_hh[: 2 * hidden].t(), w_hh[2 * hidden :].t()
        gates = xp  # activated in place, row by row
        hs = xp.new_empty(steps + 1, batch, hidden)
        rhs = xp.new_empty(steps, batch, hidden)  # r * h_prev, the input of R_n
        hs[0] = state0[0]
        arz_l = gates[:, :, : 2 * hidden].unbind(0)
        r_l = gates[:, :, :hidden].unbind(0)
        z_l = gates[:, :, hidden : 2 * hidden].unbind(0)
        n_l = gates[:, :, 2 * hidden :].unbind(0)
        h_l, rh_l = hs.unbind(0), rhs.unbind(0)
        diff = xp.new_empty(batch, hidden)
        gate, act = self.gate, self.act
        for t in range(steps):
            gate.apply_(arz_l[t].addmm_(h_l[t], w_rz_t))
            torch.mul(r_l[t], h_l[t], out=rh_l[t])
            n = n_l[t].addmm_(rh_l[t], w_n_t)
            if act is not None:
                act.apply_(n)
            torch.addcmul(n, z_l[t], torch.sub(h_l[t], n, out=diff), out=h_l[t + 1])
        saved = {"gates": gates, "hs": hs, "rhs": rhs, "w_hh": w_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, hs, rhs, w_hh = (saved[k] for k in ("gates", "hs", "rhs", "w_hh"))
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        w_rz, w_n = w_hh[: 2 * hidden], w_hh[2 * hidden :]
        d_a = gates  # overwritten step by step; the chunk's r, z and factors are copied first
        d_a_l, d_out_l = d_a.unbind(0), d_out.unbind(0)
        rows = min(CHUNK, steps)
        rz_buf = gates.new_empty(rows, batch, 2 * hidden)
        k_buf = gates.new_empty(3, rows, batch, hidden)  # k_n, k_z, k_r
        zeros = torch.zeros_like(hs[0])
        next_dh = d_out[steps - 1] + d_final[0]
        for hi in range(steps, 0, -CHUNK):
            lo = max(0, hi - CHUNK)
            g = gates[lo:hi]
            rz = rz_buf[: hi - lo].copy_(g[..., : 2 * hidden])
            r, z, n = rz[..., :hidden], rz[..., hidden:], g[..., 2 * hidden :]
            h_prev = hs[lo:hi]
            k_n, k_z, k_r = k_buf[:, : hi - lo].unbind(0)
            torch.sub(1, z, out=k_n)
            if self.act is not None:
                k_n.mul_(self.act.derivative_into(n, k_z))
            torch.sub(h_prev, n, out=k_z).mul_(self.gate.derivative_into(z, k_r))
            self.gate.derivative_into(r, k_r).mul_(h_prev)
            for t in range(hi - 1, lo - 1, -1):
                j = t - lo
                dh = next_dh
                d_a_t = d_a_l[t]
                d_an = torch.mul(dh, k_n[j], out=d_a_t[:, 2 * hidden :])
                d_rh = torch.mm(d_an, w_n)
                torch.mul(d_rh, k_r[j], out=d_a_t[:, :hidden])
                torch.mul(dh, k_z[j], out=d_a_t[:, hidden : 2 * hidden])
                base = d_out_l[t - 1] if t > 0 else zeros
                next_dh = torch.addcmul(base, dh, z[j]).addcmul_(d_rh, r[j])
                next_dh.addmm_(d_a_t[:, : 2 * hidden], w_rz)
        dh0 = next_dh
        d_rz = d_a[:, :, : 2 * hidden].reshape(-1, 2 * hidden)
        d_n = d_a[:, :, 2 * hidden :].reshape(-1, hidden)
        d_w = torch.cat((d_rz.t() @ hs[:-1].reshape(-1, hidden), d_n.t() @ rhs.reshape(-1, hidden)))
        return d_a, (dh0,), (d_w,)
