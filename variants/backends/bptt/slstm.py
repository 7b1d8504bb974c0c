"""BPTT kernel of the sLSTM (`variants.cells.slstm`; Beck et al. 2024, Sec. 2.2), torch ops.

Forward, per step: one addmm (the head-wise R as a dense block-diagonal (4H, H)) and the
pointwise math; the projected gates xp are overwritten in place with i', f', z, o, and the
stabiliser's choice (1 where m_t = i~, 0 where m_t = log f + m_{t-1}, 1/2 on a tie, as torch's
``maximum`` splits its gradient) and d log f / d f~ are kept beside them.
Backward, per step (a = pre-activation, y = c / n; dc, dn, dm carried from step t + 1)::

    d a_o = dh y o (1 - o);   dc += dh o / n;   dn -= dh h / n
    d a_z = dc i' (1 - z^2);  g_i = (dc z + dn) i';  g_f = (dc c_{t-1} + dn n_{t-1}) f'
    dm <- dm - g_i - g_f;     d a_i = g_i + sel dm;  d m_f = g_f + (1 - sel) dm
    d a_f = d m_f (1 - sigmoid(f~)) (exp forget gate: d m_f);   dm_{t-1} = d m_f
    dc_{t-1} = dc f';  dn_{t-1} = dn f';  dh_{t-1} = d a R (+ the output gradient at t - 1)

which is autograd's chain through the reference step (the m path included, so gradients agree
with the reference engine to rounding). dR is one matmul over all steps, restricted to the head
blocks. The factors that need no carried gradient (o / n, h / n, y o (1 - o), i' (1 - z^2)) are
computed for all steps at once before the loop.

On CPU in float32/float64 the pointwise part of each step (forward and backward) is one call of
the compiled C step (`native`, csrc/slstm_step.h, the same math) when a C compiler is present;
otherwise, or with GATEBENCH_NATIVE=0, the torch-op path below runs (both tested against the
reference engine).
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import logsigmoid

from variants.backends.bptt import native as bptt_native
from variants.cells.slstm import block_diagonal, head_blocks


class SLSTMKernel:
    """Pointwise forward/backward of the sLSTM; weights = (weight_hh (4H, H/heads),)."""

    n_state = 4
    gate_blocks = 4
    overwrites = ("gates",)

    def __init__(self, heads: int = 1, forget_gate: str = "sigmoid") -> None:
        if forget_gate not in ("sigmoid", "exp"):
            raise ValueError(f"bptt slstm: forget_gate must be sigmoid or exp, got {forget_gate!r}")
        self.heads = heads
        self.sigmoid_forget = forget_gate == "sigmoid"

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        (w_hh,) = weights
        steps, batch, gh = xp.shape
        hidden = gh // 4
        dense = block_diagonal(w_hh, self.heads)
        w_t = dense.t()
        hs, cs, ns, ms = (xp.new_empty(steps + 1, batch, hidden) for _ in range(4))
        for buffer, value in zip((hs, cs, ns, ms), state0, strict=True):
            buffer[0] = value
        sel = xp.new_empty(steps, batch, hidden)
        d_logf = xp.new_empty(steps, batch, hidden) if self.sigmoid_forget else None
        gates = xp  # a row becomes [i', f', z, o] once its step is done
        rows = gates.view(steps, batch, 4, hidden).unbind(0)
        h_l, c_l, n_l, m_l = (t.unbind(0) for t in (hs, cs, ns, ms))
        sel_l = sel.unbind(0)
        native = bptt_native.steps_for(xp.dtype, "slstm") \
            if xp.device.type == "cpu" and xp.is_contiguous() else None
        if native is not None:
            return self._forward_native(native, xp, w_hh, dense, hs, cs, ns, ms, sel, d_logf)
        dlf_l = d_logf.unbind(0) if d_logf is not None else None
        m_f = xp.new_empty(batch, hidden)
        for t in range(steps):
            a = gates[t].addmm_(h_l[t], w_t)
            i_a, f_a, z_a, o_a = rows[t].unbind(1)
            if self.sigmoid_forget:
                torch.sigmoid(f_a.neg(), out=dlf_l[t])  # d log sigmoid(f~) / d f~
                torch.add(m_l[t], logsigmoid(f_a), out=m_f)
            else:
                torch.add(m_l[t], f_a, out=m_f)
            m = torch.maximum(i_a, m_f, out=m_l[t + 1])
            torch.sub(i_a, m_f, out=sel_l[t]).sign_().mul_(0.5).add_(0.5)
            if t == 0:  # m = i~ where n_{t-1} = 0 (a zero state)
                empty = n_l[0] == 0
                m.copy_(torch.where(empty, i_a, m))
                sel_l[0].masked_fill_(empty, 1.0)
            i_a.sub_(m).exp_()
            f_a.copy_(m_f.sub_(m).exp_())
            z_a.tanh_()
            o_a.sigmoid_()
            c = torch.mul(f_a, c_l[t], out=c_l[t + 1]).addcmul_(i_a, z_a)
            n = torch.mul(f_a, n_l[t], out=n_l[t + 1]).add_(i_a)
            torch.mul(o_a, c, out=h_l[t + 1]).div_(n)
            del a
        saved = {"gates": gates, "hs": hs, "cs": cs, "ns": ns, "sel": sel, "d_logf": d_logf,
                 "dense": dense, "w_hh": w_hh}
        final = tuple(s[steps].clone() for s in (hs, cs, ns, ms))
        return hs[1:], final, saved

    def _forward_native(self, native, gates: Tensor, w_hh: Tensor, dense: Tensor, hs: Tensor,
                        cs: Tensor, ns: Tensor, ms: Tensor, sel: Tensor, d_logf: Tensor | None):
        """`forward` with the compiled step: per step one addmm_ and one C call."""
        step = native[0]
        steps, batch, gh = gates.shape
        hidden = gh // 4
        row, state = batch * gh * gates.element_size(), batch * hidden * hs.element_size()
        g0, h0, c0, n0, m0, s0 = (t.data_ptr() for t in (gates, hs, cs, ns, ms, sel))
        dlf0 = d_logf.data_ptr() if d_logf is not None else None
        a_l, h_l, w_t = gates.unbind(0), hs.unbind(0), dense.t()
        i64 = ctypes.c_int64
        b_, h_, sig = i64(batch), i64(hidden), i64(int(self.sigmoid_forget))
        for t in range(steps):
            a_l[t].addmm_(h_l[t], w_t)
            now, nxt = t * state, (t + 1) * state
            step(b_, h_, sig, i64(int(t == 0)), g0 + t * row, c0 + now, n0 + now, m0 + now,
                 c0 + nxt, n0 + nxt, m0 + nxt, h0 + nxt, s0 + now,
                 dlf0 + now if dlf0 is not None else None)
        saved = {"gates": gates, "hs": hs, "cs": cs, "ns": ns, "sel": sel, "d_logf": d_logf,
                 "dense": dense, "w_hh": w_hh, "native_backward": native[1]}
        final = tuple(s[steps].clone() for s in (hs, cs, ns, ms))
        return hs[1:], final, saved

    def _backward_native(self, step, saved: dict[str, Any], d_out: Tensor,
                         d_final: tuple[Tensor, ...]):
        """`backward` with the compiled step: per step one addmm and one C call."""
        gates, hs, cs, ns, sel = (saved[k] for k in ("gates", "hs", "cs", "ns", "sel"))
        dense, d_logf = saved["dense"], saved["d_logf"]
        steps, batch, gh = gates.shape
        hidden = gh // 4
        d_a = gates  # overwritten step by step with d(pre-activation)
        row, state = batch * gh * gates.element_size(), batch * hidden * hs.element_size()
        g0, h0, c0, n0, s0 = (t.data_ptr() for t in (gates, hs, cs, ns, sel))
        dlf0 = d_logf.data_ptr() if d_logf is not None else None
        dh = torch.add(d_out[steps - 1], d_final[0])
        dc, dn, dm = (d.clone(memory_format=torch.contiguous_format) for d in d_final[1:])
        dh_ptr, dc_ptr, dn_ptr, dm_ptr = (t.data_ptr() for t in (dh, dc, dn, dm))
        d_out_l, d_a_l = d_out.unbind(0), d_a.unbind(0)
        i64 = ctypes.c_int64
        b_, h_, sig = i64(batch), i64(hidden), i64(int(self.sigmoid_forget))
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                torch.addmm(d_out_l[t], d_a_l[t + 1], dense, out=dh)
            now, nxt = t * state, (t + 1) * state
            step(b_, h_, sig, g0 + t * row, c0 + now, c0 + nxt, n0 + now, n0 + nxt, h0 + nxt,
                 s0 + now, dlf0 + now if dlf0 is not None else None, dh_ptr, dc_ptr, dn_ptr,
                 dm_ptr)
        d_dense = d_a.view(-1, gh).t() @ hs[:-1].reshape(-1, hidden)
        d_state0 = (d_a[0] @ dense, dc, dn, dm)
        return d_a, d_state0, (head_blocks(d_dense, self.heads),)

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        if saved.get("native_backward") is not None:
            return self._backward_native(saved["native_backward"], saved, d_out, d_final)
        gates, hs, cs, ns, sel = (saved[k] for k in ("gates", "hs", "cs", "ns", "sel"))
        dense, d_logf = saved["dense"], saved["d_logf"]
        steps, batch, gh = gates.shape
        hidden = gh // 4
        g4 = gates.view(steps, batch, 4, hidden)
        i_g, f_g, z_g, o_g = g4.unbind(2)
        c_new, n_new, h_new = cs[1:], ns[1:], hs[1:]
        # factors that need no carried gradient, all steps at once (before gates is overwritten)
        y = c_new / n_new
        k_dc = o_g / n_new
        k_dn = h_new / n_new
        k_o = y * o_g * (1 - o_g)
        k_z = i_g * (1 - z_g * z_g)
        # g_i = dc z i' + dn i',  g_f = dc c_{t-1} f' + dn n_{t-1} f'
        zi, cf, nf = z_g * i_g, cs[:-1] * f_g, ns[:-1] * f_g
        i_sv, f_sv = i_g.clone(), f_g.clone()
        d_a = gates  # overwritten step by step with d(pre-activation)
        d_l = g4.unbind(0)
        # per-step views made once (indexing a (T, ...) tensor per step costs a select each)
        d_out_l, d_a_l = d_out.unbind(0), d_a.unbind(0)
        k_o_l, k_dc_l, k_dn_l, k_z_l = (k.unbind(0) for k in (k_o, k_dc, k_dn, k_z))
        zi_l, cf_l, nf_l, i_l, f_l = (k.unbind(0) for k in (zi, cf, nf, i_sv, f_sv))
        sel_l = sel.unbind(0)
        dlf_l = d_logf.unbind(0) if d_logf is not None else None
        dh = d_out[steps - 1] + d_final[0]
        dc = d_final[1].clone()
        dn = d_final[2].clone()
        dm = d_final[3].clone()
        g_i = torch.empty_like(dc)
        g_f = torch.empty_like(dc)
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                dh = torch.addmm(d_out_l[t], d_a_l[t + 1], dense)
            d_i, d_f, d_z, d_o = d_l[t].unbind(1)
            torch.mul(dh, k_o_l[t], out=d_o)
            dc.addcmul_(dh, k_dc_l[t])
            dn.addcmul_(dh, k_dn_l[t], value=-1.0)
            torch.mul(dc, k_z_l[t], out=d_z)
            torch.mul(dc, zi_l[t], out=g_i).addcmul_(dn, i_l[t])
            torch.mul(dc, cf_l[t], out=g_f).addcmul_(dn, nf_l[t])
            dm.sub_(g_i).sub_(g_f)
            torch.addcmul(g_i, sel_l[t], dm, out=d_i)
            dm.addcmul_(sel_l[t], dm, value=-1.0).add_(g_f)  # d m_f = g_f + (1 - sel) dm
            if dlf_l is not None:
                torch.mul(dm, dlf_l[t], out=d_f)
            else:
                d_f.copy_(dm)
            dc.mul_(f_l[t])
            dn.mul_(f_l[t])
        d_dense = d_a.view(-1, gh).t() @ hs[:-1].reshape(-1, hidden)
        d_state0 = (d_a[0] @ dense, dc, dn, dm)
        return d_a, d_state0, (head_blocks(d_dense, self.heads),)
