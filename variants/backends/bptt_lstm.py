"""BPTT kernel of the configurable LSTM cell (lstm, peephole, cifg, Greff et al.'s presets, fgr).

Equations: `variants.cells.lstm` (Greff et al. 2017, Sec. 2). With a = xp_t + R h_{t-1}
(+ Q [i, f, o]_{t-1} for fgr) per gate block:
    i = s(a_i + p_i c_{t-1}),  f = s(a_f + p_f c_{t-1}) (1 - i if coupled),  g = act(a_g),
    c = f c_{t-1} + i g,  o = s(a_o + p_o c),  h = o act(c);   absent gates are 1.
Backward: every per-step derivative factor (d a / d c, d c_{t-1} / d c, d c / d h, d a_o / d h)
is computed for a chunk of steps at once, so a backward step is one addmm and ~4 pointwise ops.
Internally the blocks are reordered (o first when it has no peephole) so that the sigmoid gates
and the blocks driven by d c are contiguous; `permutation` tells the caller the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from variants.backends.bptt_activations import activation

CHUNK = 32  # steps whose backward factors are computed together (cache-sized)


@dataclass(frozen=True)
class LSTMSpec:
    """The cell's structure: gate blocks in W's order and how each piece is activated."""

    blocks: tuple[str, ...] = ("i", "f", "g", "o")
    coupled: bool = False  # CIFG: f = 1 - i
    peephole_gates: tuple[str, ...] = ()  # rows of the peephole weight, e.g. ("i", "f", "o")
    full_gate_recurrence: tuple[str, ...] = ()  # fgr: gates fed back, e.g. ("i", "f", "o")
    input_activation: str | None = "tanh"  # on g; None = identity (NIAF)
    output_activation: str | None = "tanh"  # on c; None = identity (NOAF)
    recurrent_activation: str = "sigmoid"


class LSTMKernel:
    """Pointwise forward/backward of an `LSTMSpec`.

    weights = (W_hh in internal order, [peephole (n, H)], [gate_hh (nH, nH)]); `permutation` maps
    internal block k to the cell's block `permutation[k]`.
    """

    n_state = 2

    def __init__(self, spec: LSTMSpec) -> None:
        if "g" not in spec.blocks or len(set(spec.blocks)) != len(spec.blocks):
            raise ValueError(f"bptt lstm: blocks must hold 'g' once, got {spec.blocks}")
        self.spec = spec
        self.gate_blocks = len(spec.blocks)
        self.rec = activation(spec.recurrent_activation)
        if self.rec is None:
            raise ValueError("bptt lstm: recurrent_activation must not be the identity")
        self.act_in = activation(spec.input_activation)
        self.act_out = activation(spec.output_activation)
        self.peep_row = {g: k for k, g in enumerate(spec.peephole_gates)}
        o_early = "o" in spec.blocks and "o" not in self.peep_row and not spec.full_gate_recurrence
        front = ("o",) if o_early else ()
        back = () if o_early or "o" not in spec.blocks else ("o",)
        self.layout = front + tuple(b for b in spec.blocks if b != "o") + back
        self.permutation = [spec.blocks.index(b) for b in self.layout]
        self.pos = {b: k for k, b in enumerate(self.layout)}
        early = [b for b in self.layout if b in ("i", "f") or (b == "o" and o_early)]
        self.early = (self.pos[early[0]], self.pos[early[-1]] + 1) if early else None
        self.late_o = "o" in self.pos and not o_early
        c_blocks = [b for b in self.layout if b != "o"]
        self.c_range = (self.pos[c_blocks[0]], self.pos[c_blocks[-1]] + 1)

    def _views(self, t: Tensor, name: str, hidden: int) -> Tensor:
        k = self.pos[name]
        return t[..., k * hidden : (k + 1) * hidden]

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        spec, rec, pos = self.spec, self.rec, self.pos
        w_hh, rest = weights[0], list(weights[1:])
        peep = rest.pop(0) if spec.peephole_gates else None
        gate_hh = rest.pop(0) if spec.full_gate_recurrence else None
        steps, batch, gh = xp.shape
        hidden = gh // self.gate_blocks
        gates = torch.empty_like(xp)
        hs = xp.new_empty(steps + 1, batch, hidden)
        cs = xp.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = state0
        ys = xp.new_empty(steps, batch, hidden) if self.act_out is not None else cs[1:]
        view = self._views
        xp_l, a_l, h_l, c_l, y_l = (t.unbind(0) for t in (xp, gates, hs, cs, ys))
        early_l = gates[:, :, self.early[0] * hidden : self.early[1] * hidden].unbind(0) \
            if self.early else None
        g_l = view(gates, "g", hidden).unbind(0)
        i_l = view(gates, "i", hidden).unbind(0) if "i" in pos else None
        f_l = view(gates, "f", hidden).unbind(0) if "f" in pos else None
        o_l = view(gates, "o", hidden).unbind(0) if "o" in pos else None
        p_i = peep[self.peep_row["i"]] if "i" in self.peep_row else None
        p_f = peep[self.peep_row["f"]] if "f" in self.peep_row else None
        p_o = peep[self.peep_row["o"]] if "o" in self.peep_row else None
        fgr = spec.full_gate_recurrence
        prev_gates = xp.new_zeros(steps + 1, batch, len(fgr) * hidden) if fgr else None
        fgr_l = [(prev_gates[1:, :, k * hidden : (k + 1) * hidden].unbind(0),
                  view(gates, name, hidden).unbind(0)) for k, name in enumerate(fgr)]
        gate_hh_t = gate_hh.t() if gate_hh is not None else None
        w_t = w_hh.t()
        act_in, act_out, coupled = self.act_in, self.act_out, spec.coupled
        for t in range(steps):
            torch.addmm(xp_l[t], h_l[t], w_t, out=a_l[t])
            c_prev, c = c_l[t], c_l[t + 1]
            if fgr:
                q = torch.mm(prev_gates[t], gate_hh_t)
                for k, name in enumerate(fgr):
                    view(a_l[t], name, hidden).add_(q[:, k * hidden : (k + 1) * hidden])
            if p_i is not None:
                i_l[t].addcmul_(c_prev, p_i)
            if p_f is not None:
                f_l[t].addcmul_(c_prev, p_f)
            if early_l is not None:
                rec.apply_(early_l[t])
            g = g_l[t]
            if act_in is not None:
                act_in.apply_(g)
            if coupled:  # c = c_prev + i (g - c_prev)
                torch.addcmul(c_prev, i_l[t], g - c_prev, out=c)
            else:
                if f_l is not None:
                    torch.mul(f_l[t], c_prev, out=c)
                else:
                    c.copy_(c_prev)
                if i_l is not None:
                    c.addcmul_(i_l[t], g)
                else:
                    c.add_(g)
            y = c
            if act_out is not None:
                y = y_l[t]
                if act_out.name == "tanh":
                    torch.tanh(c, out=y)
                else:
                    act_out.apply_(y.copy_(c))
            if o_l is not None:
                o = o_l[t]
                if self.late_o:
                    if p_o is not None:
                        o.addcmul_(c, p_o)
                    rec.apply_(o)
                torch.mul(o, y, out=h_l[t + 1])
            else:
                h_l[t + 1].copy_(y)
            for dst, src in fgr_l:
                dst[t].copy_(src[t])
        saved = {"gates": gates, "hs": hs, "cs": cs, "ys": ys, "w_hh": w_hh, "peep": peep,
                 "gate_hh": gate_hh, "prev_gates": prev_gates}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def _factors(self, saved: dict[str, Any], hidden: int, lo: int, hi: int):
        """Factors for steps lo..hi-1: d a_o = dh Do, dc += dh M, d a_c = dc Kc, dc <- dc F."""
        spec, rec, pos, view = self.spec, self.rec, self.pos, self._views
        gates, c_prev, ys = (saved[k][lo:hi] for k in ("gates", "cs", "ys"))
        peep = saved["peep"]
        i = view(gates, "i", hidden) if "i" in pos else None
        g = view(gates, "g", hidden)
        o = view(gates, "o", hidden) if "o" in pos else None
        p_row = {k: peep[r] for k, r in self.peep_row.items()} if peep is not None else {}
        d_y = self.act_out.derivative(ys) if self.act_out is not None else None
        do = m = None
        if o is not None:
            do = ys * rec.derivative(o)
            m = o * d_y if d_y is not None else o.clone()
            if "o" in p_row:
                m.addcmul_(do, p_row["o"])
        elif d_y is not None:
            m = d_y
        factor: dict[str, Tensor] = {}
        d_g = self.act_in.derivative(g) if self.act_in is not None else None
        f_total: Tensor | None = None
        if spec.coupled:
            factor["i"] = (g - c_prev) * rec.derivative(i)
            f_total = 1 - i
        else:
            if i is not None:
                factor["i"] = g * rec.derivative(i)
            if "f" in pos:
                f = view(gates, "f", hidden)
                factor["f"] = c_prev * rec.derivative(f)
                f_total = f.clone()
        if i is not None:
            factor["g"] = i * d_g if d_g is not None else i
        else:
            factor["g"] = d_g if d_g is not None else torch.ones_like(g)
        for b in ("i", "f"):
            if b in p_row and b in factor:
                if f_total is None:
                    f_total = torch.ones_like(g)
                f_total.addcmul_(factor[b], p_row[b])
        c_blocks = [b for b in self.layout if b != "o"]
        kc = torch.stack([factor[b] for b in c_blocks], dim=2)
        return do, m, kc, f_total

    def _rec_derivative(self, saved: dict[str, Any], lo: int, hi: int) -> Tensor:
        return self.rec.derivative(saved["prev_gates"][lo + 1 : hi + 1])

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        spec = self.spec
        hs, cs, gates, w_hh, peep = (saved[k] for k in ("hs", "cs", "gates", "w_hh", "peep"))
        gate_hh = saved["gate_hh"]
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_a = torch.empty_like(gates)
        c0, c1 = self.c_range[0] * hidden, self.c_range[1] * hidden
        n_c = self.c_range[1] - self.c_range[0]
        o_sl = slice(self.pos["o"] * hidden, (self.pos["o"] + 1) * hidden) \
            if "o" in self.pos else None
        fgr = spec.full_gate_recurrence
        fgr_sl = [slice(self.pos[b] * hidden, (self.pos[b] + 1) * hidden) for b in fgr]
        p_row = {k: peep[r] for k, r in self.peep_row.items()} if peep is not None else {}
        d_out_l, d_a_l = d_out.unbind(0), d_a.unbind(0)
        dh = d_out[steps - 1] + d_final[0]
        dc = d_final[1].clone()
        for hi in range(steps, 0, -CHUNK):
            lo = max(0, hi - CHUNK)
            do, m, kc, f_total = self._factors(saved, hidden, lo, hi)
            rec_d = self._rec_derivative(saved, lo, hi) if fgr else None
            for t in range(hi - 1, lo - 1, -1):
                j = t - lo
                if t < steps - 1:
                    dh = torch.addmm(d_out_l[t], d_a_l[t + 1], w_hh)
                e = None
                if fgr and t < steps - 1:  # gradient into this step's gates through Q
                    sig_next = torch.cat([d_a_l[t + 1][:, s] for s in fgr_sl], 1)
                    e = (sig_next @ gate_hh).mul_(rec_d[j])
                    e_of = {b: e[:, k * hidden : (k + 1) * hidden] for k, b in enumerate(fgr)}
                    if "o" in e_of and "o" in p_row:
                        dc.addcmul_(e_of["o"], p_row["o"])
                if m is None:
                    dc.add_(dh)
                else:
                    dc.addcmul_(dh, m[j])
                torch.mul(kc[j], dc.unsqueeze(1), out=d_a_l[t][:, c0:c1].view(batch, n_c, hidden))
                if o_sl is not None:
                    torch.mul(dh, do[j], out=d_a_l[t][:, o_sl])
                if f_total is not None:
                    dc.mul_(f_total[j])
                if e is not None:
                    for b in fgr:
                        d_a_l[t][:, self.pos[b] * hidden : (self.pos[b] + 1) * hidden].add_(
                            e_of[b])
                        if b in ("i", "f") and b in p_row:
                            dc.addcmul_(e_of[b], p_row[b])
        dh0 = d_a[0] @ w_hh
        flat = d_a.view(-1, d_a.shape[2])
        d_weights: list[Tensor] = [flat.t() @ hs[:-1].reshape(-1, hidden)]
        if peep is not None:
            d_peep = torch.empty_like(peep)
            for b, r in self.peep_row.items():
                c_used = cs[1:] if b == "o" else cs[:-1]
                d_peep[r] = (self._views(d_a, b, hidden) * c_used).sum((0, 1))
            d_weights.append(d_peep)
        if gate_hh is not None:
            d_sig = torch.cat([d_a[:, :, s] for s in fgr_sl], 2)
            prev = saved["prev_gates"][:-1]
            d_weights.append(d_sig.reshape(-1, d_sig.shape[2]).t() @ prev.reshape(
                -1, prev.shape[2]))
        return d_a, (dh0, dc), tuple(d_weights)
