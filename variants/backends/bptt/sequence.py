"""Backend `native` (CPU): the `bptt` kernels with the whole time loop in C.

The `bptt` backend calls torch once and the compiled pointwise step once per time step, each way;
at study sizes (B = 32, H = 32-64) those calls, not the arithmetic, take most of the time. Here
one C call runs a layer-direction's whole forward (and one its whole backward): per step the
recurrent matmul (a register-blocked AVX2/FMA tile, csrc/gemm_block.h, or its portable C form)
and the same pointwise step as `bptt` (csrc/bptt_steps.c). The input projection, the weight
gradients and d x stay single torch matmuls over all steps (`bptt.engine`), so the math and the
buffers are those of `bptt`: tested equal to the reference engine in float64 and float32.

Kernels with a whole-sequence loop: the LSTM family (`bptt.lstm.LSTMKernel`, all of Greff et
al.'s presets but the fed-back gates of `fgr`), the reset-after GRU (`bptt.gru.GRUKernel`) and
the Elman RNN (`bptt.rnn.ElmanKernel`), on CPU in float32/float64 with a C compiler. For anything
else `supports` gives the reason and a forced ``backend='native'`` raises it; `auto` picks
`native` only where the benchmark showed it faster (`auto.CPU_NATIVE_MAX_WIDTH`).
Single-threaded: the loop runs on the calling thread whatever torch's thread count.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor

from variants.backends import Engine, kernel_table
from variants.backends.autocast import float32_under_autocast
from variants.backends.bptt import native
from variants.backends.bptt.engine import _kernel, run_kernel
from variants.backends.bptt.gru import GRUKernel
from variants.backends.bptt.lstm import LSTMKernel
from variants.backends.bptt.rnn import ElmanKernel
from variants.cell import Cell
from variants.engine import LayerWeights


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class LSTMSequence:
    """Whole-sequence forward/backward of an `LSTMKernel` without fed-back gates."""

    n_state = 2
    overwrites = ("gates",)

    permutation = None  # the C step reads each block at its offset: the cell's own order

    def __init__(self, kernel: LSTMKernel) -> None:
        self.kernel = kernel
        self.gate_blocks = kernel.gate_blocks
        self.peephole = bool(kernel.spec.peephole_gates)
        self.pos = {b: k for k, b in enumerate(kernel.spec.blocks)}

    def native_spec(self, batch: int, hidden: int) -> native.Spec:
        """The kernel's `native_spec` with the blocks at their offsets in the cell's order."""
        spec = self.kernel.native_spec(batch, hidden)
        for b in "ifgo":
            setattr(spec, f"off_{b}", self.pos[b] * hidden if b in self.pos else -1)
        return spec

    def _weight_grads(self, d_a: Tensor, hs: Tensor, cs: Tensor, peep: Tensor | None,
                      hidden: int) -> tuple[Tensor, ...]:
        """dW_hh (one matmul over all steps) and d peephole (a sum over steps and rows)."""
        d_weights = [d_a.view(-1, d_a.shape[2]).t() @ hs[:-1].reshape(-1, hidden)]
        if peep is not None:
            d_peep = torch.empty_like(peep)
            for b, r in self.kernel.peep_row.items():
                k = self.pos[b] * hidden
                c_used = cs[1:] if b == "o" else cs[:-1]  # o peeks at the new c
                d_peep[r] = (d_a[:, :, k : k + hidden] * c_used).sum((0, 1))
            d_weights.append(d_peep)
        return tuple(d_weights)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        peep = weights[1].contiguous() if self.peephole else None
        steps, batch, _ = xp.shape
        hidden = w_hh.shape[1]
        gates = xp.contiguous()  # activated in place
        hs = gates.new_empty(steps + 1, batch, hidden)
        cs = gates.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = state0
        spec = self.native_spec(batch, hidden)
        forward, _ = native.sequence_for(gates.dtype, "lstm")
        w_t = w_hh.t().contiguous()  # held: a pointer alone does not keep the tensor alive
        forward(ctypes.byref(spec), steps, gates.data_ptr(), hs.data_ptr(), cs.data_ptr(),
                w_t.data_ptr(), _ptr(peep))
        saved = {"gates": gates, "hs": hs, "cs": cs, "w_hh": w_hh, "peep": peep}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, hs, cs, w_hh, peep = (saved[k] for k in ("gates", "hs", "cs", "w_hh", "peep"))
        steps, batch, _ = gates.shape
        hidden = hs.shape[2]
        d_out = d_out.contiguous()
        dh = torch.add(d_out[steps - 1], d_final[0])
        dc = d_final[1].contiguous().clone()
        work = gates.new_empty(11 * hidden)
        spec = self.native_spec(batch, hidden)
        _, backward = native.sequence_for(gates.dtype, "lstm")
        backward(ctypes.byref(spec), steps, gates.data_ptr(), cs.data_ptr(), w_hh.data_ptr(),
                 d_out.data_ptr(), dh.data_ptr(), dc.data_ptr(), _ptr(peep), work.data_ptr())
        d_weights = self._weight_grads(gates, hs, cs, peep, hidden)
        return gates, (gates[0] @ w_hh, dc), d_weights


class GRUSequence:
    """Whole-sequence forward/backward of the reset-after `GRUKernel`."""

    n_state = 1
    gate_blocks = 3
    overwrites = ("gates", "recs")

    def __init__(self, kernel: GRUKernel) -> None:
        self.kernel = kernel

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        b_hh = weights[1].contiguous() if len(weights) == 2 and weights[1] is not None else None
        steps, batch, _ = xp.shape
        hidden = w_hh.shape[1]
        gates = xp.contiguous()
        recs = torch.empty_like(gates)
        hs = gates.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        forward, _ = native.sequence_for(gates.dtype, "gru")
        w_t = w_hh.t().contiguous()
        forward(batch, hidden, *self.kernel._codes(), steps, gates.data_ptr(), recs.data_ptr(),
                hs.data_ptr(), w_t.data_ptr(), _ptr(b_hh))
        saved = {"gates": gates, "recs": recs, "hs": hs, "w_hh": w_hh, "b_hh": b_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        gates, recs, hs, w_hh, b_hh = (saved[k] for k in ("gates", "recs", "hs", "w_hh", "b_hh"))
        steps, batch, _ = gates.shape
        hidden = hs.shape[2]
        d_out = d_out.contiguous()
        dh = torch.add(d_out[steps - 1], d_final[0])
        dh_prev, zeros = torch.empty_like(dh), torch.zeros_like(dh)
        work = gates.new_empty(3 * hidden)
        _, backward = native.sequence_for(gates.dtype, "gru")
        backward(batch, hidden, *self.kernel._codes(), steps, gates.data_ptr(), recs.data_ptr(),
                 hs.data_ptr(), w_hh.data_ptr(), d_out.data_ptr(), dh.data_ptr(),
                 dh_prev.data_ptr(), zeros.data_ptr(), work.data_ptr())
        flat = recs.view(-1, 3 * hidden)  # now d rec
        d_weights: list[Tensor] = [flat.t() @ hs[:-1].reshape(-1, hidden)]
        if b_hh is not None:
            d_weights.append(flat.sum(0))
        return gates, (dh,), tuple(d_weights)


class ElmanSequence:
    """Whole-sequence forward/backward of the `ElmanKernel`."""

    n_state = 1
    gate_blocks = 1
    overwrites: tuple[str, ...] = ()

    def __init__(self, kernel: ElmanKernel) -> None:
        self.kernel = kernel
        self.code = kernel_table.activation_code(kernel.act.name)

    def forward(self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        xp = xp.contiguous()
        steps, batch, hidden = xp.shape
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        forward, _ = native.sequence_for(xp.dtype, "rnn")
        w_t = w_hh.t().contiguous()
        forward(batch, hidden, self.code, steps, xp.data_ptr(), hs.data_ptr(), w_t.data_ptr())
        return hs[1:], (hs[steps].clone(),), {"hs": hs, "w_hh": w_hh}

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]):
        hs, w_hh = saved["hs"], saved["w_hh"]
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_out = d_out.contiguous()
        dh = torch.add(d_out[steps - 1], d_final[0])
        d_a = hs.new_empty(steps, batch, hidden)
        _, backward = native.sequence_for(hs.dtype, "rnn")
        backward(batch, hidden, self.code, steps, hs.data_ptr(), w_hh.data_ptr(),
                 d_out.data_ptr(), dh.data_ptr(), d_a.data_ptr())
        d_w = d_a.view(-1, hidden).t() @ hs[:-1].reshape(-1, hidden)
        return d_a, (d_a[0] @ w_hh,), (d_w,)


def sequence_kernel(kernel: Any) -> tuple[Any, str | None]:
    """(the whole-sequence form of a `bptt` kernel, None), or (None, why there is none).

    Only the exact built-in kernel classes qualify (a subclass may change the math)."""
    if type(kernel) is LSTMKernel:
        if kernel.spec.full_gate_recurrence:
            return None, "the fed-back gates of full_gate_recurrence (fgr) have no C loop"
        return LSTMSequence(kernel), None
    if type(kernel) is GRUKernel:
        return GRUSequence(kernel), None
    if type(kernel) is ElmanKernel:
        return ElmanSequence(kernel), None
    return None, f"its bptt kernel {type(kernel).__name__} has no whole-sequence C loop"


def _sequence(cell: Cell, x: Tensor, recurrent_mask: Tensor | None):
    """(the cell's whole-sequence kernel, None) or (None, the one-line reason)."""
    def refuse(why: str) -> tuple[None, str]:
        return None, (f"backend='native' cannot run variant {cell.name!r}: {why}; accepted: "
                      "lstm-family (not fgr), gru, rnn on CPU in float32/float64 with a C "
                      "compiler; use backend='bptt' or 'reference'")

    if x.device.type != "cpu":
        return refuse(f"device {x.device.type} (the C loops run on CPU)")
    kernel, reason = _kernel(cell, recurrent_mask)
    if reason is not None:
        return refuse(reason.removeprefix("backend='bptt' ").split("; accepted:")[0])
    dtype = torch.float32 if torch.is_autocast_enabled("cpu") else x.dtype
    unavailable = native.sequence_unavailable(dtype)
    if unavailable is not None:
        return refuse(unavailable)
    sequence, why = sequence_kernel(kernel)
    return (sequence, None) if why is None else refuse(why)


def supports_native(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when `run_native` can run `cell` on `x`; else the one-line reason."""
    return _sequence(cell, x, recurrent_mask)[1]


@float32_under_autocast
def run_native(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `native`: the contract of `variants.engine.run_reference`, time loops in C."""
    sequence, reason = _sequence(cell, x, recurrent_mask)
    if reason is not None:
        raise ValueError(reason)
    return run_kernel(sequence, cell, x, state, weights, reverse)


ENGINE = Engine(run_native, supports_native)
