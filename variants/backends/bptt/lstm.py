"""BPTT kernel of the configurable LSTM cell (lstm, peephole, cifg, Greff et al.'s presets, fgr).

Equations: `variants.cells.lstm` (Greff et al. 2017, Sec. 2). With a = xp_t + R h_{t-1}
(+ Q [i, f, o]_{t-1} for fgr) per gate block:
    i = s(a_i + p_i c_{t-1}),  f = s(a_f + p_f c_{t-1}) (1 - i if coupled),  g = act(a_g),
    c = f c_{t-1} + i g,  o = s(a_o + p_o c),  h = o act(c);   absent gates are 1.
Backward: every per-step derivative factor (d a / d c, d c_{t-1} / d c, d c / d h, d a_o / d h)
is computed for a chunk of steps at once, so a backward step is one addmm and ~4 pointwise ops.
Internally the blocks are reordered (o first when it has no peephole; g first for fgr) so that
the sigmoid gates, the blocks driven by d c and the fed-back gates are each contiguous;
`permutation` tells the caller the order.
On CPU in float32/float64 the pointwise part of each step (forward and backward) is one call of
the compiled C step (`native`, csrc/bptt_steps.c) when a C compiler is present; otherwise the
torch-op path below runs (both tested against the reference engine).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from variants.backends import kernel_table
from variants.backends.bptt import native as bptt_native
from variants.backends.bptt.activations import activation

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


_DERIVED: dict[LSTMSpec, dict[str, Any]] = {}  # spec -> a kernel's attributes (never mutated)


class LSTMKernel:
    """Pointwise forward/backward of an `LSTMSpec`.

    weights = (W_hh in internal order, [peephole (n, H)], [gate_hh (nH, nH)]); `permutation` maps
    internal block k to the cell's block `permutation[k]`.
    """

    n_state = 2
    overwrites = ("gates",)  # backward writes d(pre-activation) over the gates

    def __init__(self, spec: LSTMSpec) -> None:
        derived = _DERIVED.get(spec)
        if derived is not None:  # `auto` asks for the kernel at every forward: reuse the layout
            self.__dict__.update(derived)
            return
        self._derive(spec)
        _DERIVED[spec] = dict(self.__dict__)

    def _derive(self, spec: LSTMSpec) -> None:
        """The layout and activations of `spec` (its blocks reordered, see the module doc)."""
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
        fgr = tuple(spec.full_gate_recurrence)
        o_early = "o" in spec.blocks and "o" not in self.peep_row and not fgr
        front = ("o",) if o_early else ()
        back = () if o_early or "o" not in spec.blocks or "o" in fgr else ("o",)
        if fgr:  # the fed-back gates last and in Q's order, so each is one slice: [.., g, i, f, o]
            if not set(fgr) <= set(spec.blocks) - {"g"} or ("o" in fgr and fgr[-1] != "o"):
                raise ValueError(f"bptt lstm: full_gate_recurrence must name gates of {spec.blocks}"
                                 f" other than 'g', with 'o' last; got {fgr}")
            self.layout = tuple(b for b in spec.blocks if b not in fgr and b != "o") + fgr + back
        else:
            self.layout = front + tuple(b for b in spec.blocks if b != "o") + back
        self.permutation = [spec.blocks.index(b) for b in self.layout]
        self.pos = {b: k for k, b in enumerate(self.layout)}
        early = [b for b in self.layout if b in ("i", "f") or (b == "o" and o_early)]
        self.early = self._span(early)
        self.late_o = "o" in self.pos and not o_early
        self.c_range = self._span([b for b in self.layout if b != "o"])
        self.fgr_range = self._span(list(fgr))

    def _span(self, names: list[str]) -> tuple[int, int] | None:
        """(first, last + 1) block positions of `names`, which must be consecutive in the layout."""
        if not names:
            return None
        lo, hi = self.pos[names[0]], self.pos[names[-1]] + 1
        if list(self.layout[lo:hi]) != names:
            raise ValueError(f"bptt lstm: blocks {names} are not consecutive in {self.layout}")
        return lo, hi

    def _if_adjacent(self) -> bool:
        """Whether gates i, f and peephole rows i, f are each consecutive, in that order."""
        return (self.pos.get("f") == self.pos.get("i", -2) + 1
                and self.peep_row.get("f") == self.peep_row.get("i", -2) + 1)

    def _views(self, t: Tensor, name: str, hidden: int) -> Tensor:
        k = self.pos[name]
        return t[..., k * hidden : (k + 1) * hidden]

    def native_spec(self, batch: int, hidden: int) -> bptt_native.Spec:
        """The layout of this kernel for the compiled step (csrc/bptt_steps.c)."""
        fgr = self.spec.full_gate_recurrence

        def offset(b: str) -> int:
            return self.pos[b] * hidden if b in self.pos else -1

        def code(act) -> int:
            return kernel_table.activation_code(None if act is None else act.name)

        return bptt_native.Spec(
            batch, hidden, self.gate_blocks * hidden, offset("i"), offset("f"), offset("g"),
            offset("o"), int(self.spec.coupled), code(self.rec), code(self.act_in),
            code(self.act_out), *(self.peep_row.get(b, -1) for b in ("i", "f", "o")),
            len(fgr) * hidden, *(fgr.index(b) * hidden if b in fgr else -1 for b in "ifo"))

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        spec, rec, pos = self.spec, self.rec, self.pos
        w_hh, rest = weights[0], list(weights[1:])
        peep = rest.pop(0) if spec.peephole_gates else None
        gate_hh = rest.pop(0) if spec.full_gate_recurrence else None
        steps, batch, gh = xp.shape
        hidden = gh // self.gate_blocks
        gates = xp  # activated in place, row by row
        hs = xp.new_empty(steps + 1, batch, hidden)
        cs = xp.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = state0
        native = bptt_native.steps_for(xp.dtype) \
            if xp.device.type == "cpu" and xp.is_contiguous() else None
        if native is not None:
            return self._forward_native(native, gates, hs, cs, w_hh, peep, gate_hh)
        view = self._views
        a_l, h_l, c_l = (t.unbind(0) for t in (gates, hs, cs))
        early_l = gates[:, :, self.early[0] * hidden : self.early[1] * hidden].unbind(0) \
            if self.early else None
        g_l = view(gates, "g", hidden).unbind(0)
        i_l = view(gates, "i", hidden).unbind(0) if "i" in pos else None
        f_l = view(gates, "f", hidden).unbind(0) if "f" in pos else None
        o_l = view(gates, "o", hidden).unbind(0) if "o" in pos else None
        p_i = peep[self.peep_row["i"]] if "i" in self.peep_row else None
        p_f = peep[self.peep_row["f"]] if "f" in self.peep_row else None
        if_l = p_if = None
        if p_i is not None and p_f is not None and self._if_adjacent():
            # one op for both input-side peepholes: rows (i, f) of gates and of the peephole
            k = pos["i"]
            if_l = gates[:, :, k * hidden : (k + 2) * hidden].view(steps, batch, 2, hidden)
            if_l, p_if = if_l.unbind(0), peep[self.peep_row["i"] : self.peep_row["i"] + 2]
            c_prev_l = cs[:-1].unsqueeze(2).unbind(0)  # (B, 1, H) views, made once
            p_i = p_f = None
        p_o = peep[self.peep_row["o"]] if "o" in self.peep_row else None
        fgr = spec.full_gate_recurrence
        prev_gates = xp.new_zeros(steps + 1, batch, len(fgr) * hidden) if fgr else None
        if fgr:  # s_t: the fed-back gates (one slice of the gate row), and their copy for step t+1
            sig_l = gates[:, :, self.fgr_range[0] * hidden : self.fgr_range[1] * hidden].unbind(0)
            prev_l = prev_gates.unbind(0)
        gate_hh_t = gate_hh.t() if gate_hh is not None else None
        w_t = w_hh.t()
        act_in, act_out, coupled = self.act_in, self.act_out, spec.coupled
        # act(c) is recomputed per chunk in backward, so it needs no (T, B, H) buffer here
        y_tmp = xp.new_empty(batch, hidden) if act_out is not None and o_l is not None else None
        diff = xp.new_empty(batch, hidden) if coupled else None
        for t in range(steps):
            a_l[t].addmm_(h_l[t], w_t)
            c_prev, c = c_l[t], c_l[t + 1]
            if fgr:
                sig_l[t].addmm_(prev_l[t], gate_hh_t)
            if if_l is not None:
                if_l[t].addcmul_(c_prev_l[t], p_if)
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
                torch.addcmul(c_prev, i_l[t], torch.sub(g, c_prev, out=diff), out=c)
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
                y = y_tmp if o_l is not None else h_l[t + 1]
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
            elif act_out is None:
                h_l[t + 1].copy_(c)
            if fgr:
                prev_l[t + 1].copy_(sig_l[t])
        saved = {"gates": gates, "hs": hs, "cs": cs, "w_hh": w_hh, "peep": peep,
                 "gate_hh": gate_hh, "prev_gates": prev_gates}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def _forward_native(self, native, gates: Tensor, hs: Tensor, cs: Tensor, w_hh: Tensor,
                        peep: Tensor | None, gate_hh: Tensor | None):
        """`forward` with the compiled step: per step one addmm_ (two for fgr) and one C call."""
        step = native[0]
        steps, batch, gh = gates.shape
        hidden = hs.shape[2]
        spec = self.native_spec(batch, hidden)
        peep = peep.contiguous() if peep is not None else None
        peep_ptr = peep.data_ptr() if peep is not None else None
        row, state = batch * gh * gates.element_size(), batch * hidden * hs.element_size()
        g0, h0, c0 = gates.data_ptr(), hs.data_ptr(), cs.data_ptr()
        a_l, h_l = gates.unbind(0), hs.unbind(0)
        fgr = self.spec.full_gate_recurrence
        prev_gates = gates.new_zeros(steps + 1, batch, len(fgr) * hidden) if fgr else None
        if fgr:
            sig_l = gates[:, :, self.fgr_range[0] * hidden : self.fgr_range[1] * hidden].unbind(0)
            prev_l = prev_gates.unbind(0)
            gate_hh_t = gate_hh.t()
        w_t, spec_ref = w_hh.t(), ctypes.byref(spec)
        for t in range(steps):
            a_l[t].addmm_(h_l[t], w_t)
            if fgr:
                sig_l[t].addmm_(prev_l[t], gate_hh_t)
            step(spec_ref, g0 + t * row, c0 + t * state, c0 + (t + 1) * state,
                 h0 + (t + 1) * state, peep_ptr)
            if fgr:
                prev_l[t + 1].copy_(sig_l[t])
        saved = {"gates": gates, "hs": hs, "cs": cs, "w_hh": w_hh, "peep": peep,
                 "gate_hh": gate_hh, "prev_gates": prev_gates, "native_backward": native[1]}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def _backward_native(self, step, saved: dict[str, Any], d_out: Tensor,
                         d_final: tuple[Tensor, ...]):
        """`backward` with the compiled step: per step one addmm (two for fgr) and one C call."""
        hs, cs, gates, w_hh, peep = (saved[k] for k in ("hs", "cs", "gates", "w_hh", "peep"))
        gate_hh = saved["gate_hh"]
        steps, batch, gh = gates.shape
        hidden = hs.shape[2]
        spec = self.native_spec(batch, hidden)
        d_a = gates  # overwritten step by step with d(pre-activation)
        row, state = batch * gh * gates.element_size(), batch * hidden * hs.element_size()
        g0, c0 = gates.data_ptr(), cs.data_ptr()
        dh = torch.add(d_out[steps - 1], d_final[0])
        dc = d_final[1].contiguous().clone()
        work = gates.new_empty(11 * hidden)
        peep_ptr = peep.data_ptr() if peep is not None else None
        fgr = self.spec.full_gate_recurrence
        if fgr:
            f0, f1 = self.fgr_range[0] * hidden, self.fgr_range[1] * hidden
            d_sig_l = d_a[:, :, f0:f1].unbind(0)
            q = gates.new_empty(batch, f1 - f0)
        d_out_l, d_a_l = d_out.unbind(0), d_a.unbind(0)
        dh_ptr, dc_ptr, work_ptr = dh.data_ptr(), dc.data_ptr(), work.data_ptr()
        spec_ref = ctypes.byref(spec)
        for t in range(steps - 1, -1, -1):
            q_ptr = None
            if t < steps - 1:
                torch.addmm(d_out_l[t], d_a_l[t + 1], w_hh, out=dh)
                if fgr:
                    torch.mm(d_sig_l[t + 1], gate_hh, out=q)
                    q_ptr = q.data_ptr()
            step(spec_ref, g0 + t * row, c0 + t * state, c0 + (t + 1) * state, dh_ptr, dc_ptr,
                 q_ptr, peep_ptr, work_ptr)
        d_weights = self._weight_grads(d_a, hs, cs, peep, saved["prev_gates"], hidden)
        return d_a, (d_a[0] @ w_hh, dc), d_weights

    def _weight_grads(self, d_a: Tensor, hs: Tensor, cs: Tensor, peep: Tensor | None,
                      prev_gates: Tensor | None, hidden: int) -> tuple[Tensor, ...]:
        """dW_hh, d peephole, dQ as matmuls (or chunked sums) over all steps."""
        steps = d_a.shape[0]
        flat = d_a.view(-1, d_a.shape[2])
        d_weights: list[Tensor] = [flat.t() @ hs[:-1].reshape(-1, hidden)]
        if peep is not None:
            d_peep = torch.zeros_like(peep)
            tmp = d_a.new_empty(min(CHUNK, steps), d_a.shape[1], hidden)
            for hi in range(steps, 0, -CHUNK):
                lo = max(0, hi - CHUNK)
                self._peephole_grads(d_a, cs, hidden, lo, hi, d_peep, tmp[: hi - lo])
            d_weights.append(d_peep)
        if prev_gates is not None:
            f0, f1 = self.fgr_range[0] * hidden, self.fgr_range[1] * hidden
            prev = prev_gates[:-1]
            d_weights.append(flat[:, f0:f1].t() @ prev.reshape(-1, prev.shape[2]))
        return tuple(d_weights)

    def _workspace(self, like: Tensor, rows: int, batch: int, hidden: int) -> dict[str, Tensor]:
        """Chunk-sized buffers for the backward factors, allocated once per backward pass."""
        names = ["kc", "tmp"]
        names += ["do"] if "o" in self.pos else []
        names += ["m"] if "o" in self.pos or self.act_out is not None else []
        names += ["y"] if self.act_out is not None else []
        names += ["f_total"] if self.spec.coupled or "f" in self.pos or self.peep_row else []
        n_c = self.c_range[1] - self.c_range[0]
        return {n: like.new_empty(rows, batch, n_c, hidden) if n == "kc"
                else like.new_empty(rows, batch, hidden) for n in names}

    def _factors(self, saved: dict[str, Any], hidden: int, lo: int, hi: int,
                 ws: dict[str, Tensor]):
        """Factors for steps lo..hi-1: d a_o = dh Do, dc += dh M, d a_c = dc Kc, dc <- dc F.

        Written into the workspace `ws` (views of its first hi - lo rows), none of them a view
        of the gates, so the gate rows lo..hi-1 may be overwritten afterwards.
        """
        spec, rec, pos, view = self.spec, self.rec, self.pos, self._views
        n = hi - lo
        w = {k: v[:n] for k, v in ws.items()}
        gates, c_prev, c_new = saved["gates"][lo:hi], saved["cs"][lo:hi], saved["cs"][lo + 1:hi + 1]
        peep = saved["peep"]
        i = view(gates, "i", hidden) if "i" in pos else None
        g = view(gates, "g", hidden)
        o = view(gates, "o", hidden) if "o" in pos else None
        p_row = {k: peep[r] for k, r in self.peep_row.items()} if peep is not None else {}
        ys = c_new
        if self.act_out is not None:  # y = act(c), recomputed; then d y / d c into tmp
            ys = torch.tanh(c_new, out=w["y"]) if self.act_out.name == "tanh" \
                else self.act_out.apply_(w["y"].copy_(c_new))
        d_y = None  # into m itself when there is no output gate (then M = d y / d c)
        if self.act_out is not None:
            d_y = self.act_out.derivative_into(ys, w["tmp"] if o is not None else w["m"])
        do = m = None
        if o is not None:
            do = rec.derivative_into(o, w["do"]).mul_(ys)
            m = torch.mul(o, d_y, out=w["m"]) if d_y is not None else w["m"].copy_(o)
            if "o" in p_row:
                m.addcmul_(do, p_row["o"])
        elif d_y is not None:
            m = d_y
        c_blocks = [b for b in self.layout if b != "o"]
        out = {b: w["kc"][:, :, k] for k, b in enumerate(c_blocks)}
        tmp = w["tmp"]  # free again: d_y is in m, or consumed into it above
        f_total: Tensor | None = None
        if spec.coupled:
            rec.derivative_into(i, out["i"]).mul_(torch.sub(g, c_prev, out=tmp))
            f_total = torch.sub(1, i, out=w["f_total"])
        else:
            if i is not None:
                rec.derivative_into(i, out["i"]).mul_(g)
            if "f" in pos:
                f = view(gates, "f", hidden)
                rec.derivative_into(f, out["f"]).mul_(c_prev)
                f_total = w["f_total"].copy_(f)
        if self.act_in is not None:
            d_g = self.act_in.derivative_into(g, out["g"])
            if i is not None:
                d_g.mul_(i)
        elif i is not None:
            out["g"].copy_(i)
        else:
            out["g"].fill_(1)
        for b in ("i", "f"):
            if b in p_row and b in out:
                if f_total is None:
                    f_total = w["f_total"].fill_(1)
                f_total.addcmul_(out[b], p_row[b])
        return do, m, w["kc"], f_total

    def _rec_derivative(self, saved: dict[str, Any], lo: int, hi: int) -> Tensor:
        return self.rec.derivative(saved["prev_gates"][lo + 1 : hi + 1])

    def _peephole_grads(self, d_a: Tensor, cs: Tensor, hidden: int, lo: int, hi: int,
                        d_peep: Tensor, tmp: Tensor) -> None:
        """Add steps lo..hi-1's share of d(peephole weight) into d_peep (rows as the weight)."""
        for b, r in self.peep_row.items():
            c_used = cs[lo + 1 : hi + 1] if b == "o" else cs[lo:hi]
            torch.mul(self._views(d_a[lo:hi], b, hidden), c_used, out=tmp)
            d_peep[r] += tmp.sum((0, 1))

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        if saved.get("native_backward") is not None:
            return self._backward_native(saved["native_backward"], saved, d_out, d_final)
        spec = self.spec
        hs, cs, gates, w_hh, peep = (saved[k] for k in ("hs", "cs", "gates", "w_hh", "peep"))
        gate_hh = saved["gate_hh"]
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_a = gates  # overwritten chunk by chunk, once the chunk's factors are taken
        c0, c1 = self.c_range[0] * hidden, self.c_range[1] * hidden
        n_c = self.c_range[1] - self.c_range[0]
        ws = self._workspace(gates, min(CHUNK, steps), batch, hidden)
        o_sl = slice(self.pos["o"] * hidden, (self.pos["o"] + 1) * hidden) \
            if "o" in self.pos else None
        fgr = spec.full_gate_recurrence
        p_row = {k: peep[r] for k, r in self.peep_row.items()} if peep is not None else {}
        if fgr:  # d(pre-activation) of the fed-back gates: one slice of each row
            f0, f1 = self.fgr_range[0] * hidden, self.fgr_range[1] * hidden
            d_sig_l = d_a[:, :, f0:f1].unbind(0)
            # e = d s_t (through Q, times s'): its o part reaches c_t, its i, f parts c_{t-1}
            e_o = [(fgr.index("o") * hidden, p_row["o"])] if "o" in fgr and "o" in p_row else []
            e_if = [(fgr.index(b) * hidden, p_row[b]) for b in ("i", "f")
                    if b in fgr and b in p_row]
        d_out_l, d_a_l = d_out.unbind(0), d_a.unbind(0)
        d_ac_l = d_a[:, :, c0:c1].view(steps, batch, n_c, hidden).unbind(0)
        d_ao_l = d_a[:, :, o_sl].unbind(0) if o_sl is not None else None
        dh = d_out[steps - 1] + d_final[0]
        dc = d_final[1].clone()  # updated in place only, so one (B, 1, H) view serves all steps
        dc_u = dc.unsqueeze(1)
        for hi in range(steps, 0, -CHUNK):
            lo = max(0, hi - CHUNK)
            do, m, kc, f_total = self._factors(saved, hidden, lo, hi, ws)
            rec_d = self._rec_derivative(saved, lo, hi) if fgr else None
            for t in range(hi - 1, lo - 1, -1):
                j = t - lo
                if t < steps - 1:
                    dh = torch.addmm(d_out_l[t], d_a_l[t + 1], w_hh)
                e = None
                if fgr and t < steps - 1:  # gradient into this step's gates through Q
                    e = torch.mm(d_sig_l[t + 1], gate_hh).mul_(rec_d[j])
                    for k, p in e_o:
                        dc.addcmul_(e[:, k : k + hidden], p)
                if m is None:
                    dc.add_(dh)
                else:
                    dc.addcmul_(dh, m[j])
                torch.mul(kc[j], dc_u, out=d_ac_l[t])
                if d_ao_l is not None:
                    torch.mul(dh, do[j], out=d_ao_l[t])
                if f_total is not None:
                    dc.mul_(f_total[j])
                if e is not None:
                    d_sig_l[t].add_(e)
                    for k, p in e_if:
                        dc.addcmul_(e[:, k : k + hidden], p)
        d_weights = self._weight_grads(d_a, hs, cs, peep, saved["prev_gates"], hidden)
        return d_a, (d_a[0] @ w_hh, dc), d_weights
