"""Backend `native` (CPU): the `bptt` kernels with the whole layer in C.

The `bptt` backend calls torch once and the compiled pointwise step once per time step, each way;
at study sizes (B = 32, H = 32-64) those calls, not the arithmetic, took most of the time. Here
one C call runs a layer-direction's whole forward (and one its whole backward), every matmul
inside the time loop (csrc/gemm_block.h: a register-blocked AVX-512 or AVX2/FMA tile, or its
portable C form): per step the input projection x_t W_ih^T + b and the recurrent matmul into the
step's gate row, then the same pointwise step as `bptt` (csrc/bptt_steps.c); backward, per step,
the pointwise derivative, d h_{t-1}, d x_t and the weight and bias gradients while d a_t is in
cache. torch's GEMM ran those skinny shapes (T B x G H x H) at about half its square rate, and
page-faulting fresh (T, B, G H) buffers cost as much again (issue 27): the internal buffers come
from a small pool (`POOL`). Tested equal to the reference engine in float64 (1e-10) and float32.

Kernels with a whole-sequence loop: the LSTM family (`bptt.lstm.LSTMKernel`, all of Greff et
al.'s presets but the fed-back gates of `fgr`), the reset-after GRU (`bptt.gru.GRUKernel`) and
the Elman RNN (`bptt.rnn.ElmanKernel`), on CPU in float32/float64 with a C compiler. For anything
else `supports` gives the reason and a forced ``backend='native'`` raises it; `auto` picks
`native` only where the benchmark showed it faster (`auto.CPU_NATIVE_MAX_HIDDEN`).
Single-threaded: the loop runs on the calling thread whatever torch's thread count.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from variants.backends import Engine, kernel_table
from variants.backends.autocast import float32_under_autocast
from variants.backends.bptt import native
from variants.backends.bptt.engine import _graph_kept, _kernel
from variants.backends.bptt.gru import GRUKernel
from variants.backends.bptt.lstm import LSTMKernel
from variants.backends.bptt.rnn import ElmanKernel
from variants.cell import Cell
from variants.engine import LayerWeights, projection_bias


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _BufferPool:
    """Reuses the large internal buffers of a layer call (the gate rows, c, the GRU's R h).

    A fresh (T, B, G H) tensor is page-faulted in on first touch whenever the allocator returns
    such a block to the system between calls (glibc does for blocks of several MB): at B 32, H 32,
    T 1000 that cost the LSTM as much as its whole arithmetic (~8000 faults a call). A buffer is
    given back only at the end of the backward that consumed it, when nothing else holds it; at
    most `limit` bytes are kept (the oldest dropped first)."""

    def __init__(self, limit: int = 256 << 20) -> None:
        self.limit, self.free, self.bytes = limit, [], 0
        self.lock = threading.Lock()

    def take(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A free buffer of `shape` (like `like`'s dtype and device), else a new one."""
        key = (shape, like.dtype, like.device)
        with self.lock:
            for k, (held_key, tensor) in enumerate(self.free):
                if held_key == key:
                    del self.free[k]
                    self.bytes -= tensor.nbytes
                    return tensor
        return like.new_empty(shape)

    def give(self, tensor: Tensor) -> None:
        """Keep `tensor` for a later `take` (its owner must hold no other reference to it)."""
        if tensor.nbytes > self.limit:
            return
        with self.lock:
            self.free.append(((tuple(tensor.shape), tensor.dtype, tensor.device), tensor))
            self.bytes += tensor.nbytes
            while self.bytes > self.limit:
                self.bytes -= self.free.pop(0)[1].nbytes


POOL = _BufferPool()


def _rows(t: Tensor) -> Tensor:
    """`t` (T, B, n) with unit element stride (a copy only when it has none)."""
    return t if t.stride(2) == 1 else t.contiguous()


def _input_grads(x: Tensor, w_ih: Tensor, bias: Tensor | None, need_x: bool):
    """Zeroed buffers the C backward adds the input side's gradients to, and d x (or None)."""
    d_x = torch.empty_like(x) if need_x else None  # x's strides: a batch-first x needs no copy
    d_w = torch.zeros_like(w_ih)
    d_b = torch.zeros_like(bias) if bias is not None else None
    return d_x, d_w, d_b


def _strides(t: Tensor | None) -> tuple[int, int]:
    return (0, 0) if t is None else (t.stride(0), t.stride(1))


class LSTMSequence:
    """Whole-layer forward/backward of an `LSTMKernel` without fed-back gates."""

    n_state = 2
    overwrites = ("gates",)
    pooled = ("gates", "cs")  # internal buffers: back to POOL after the backward

    def __init__(self, kernel: LSTMKernel) -> None:
        self.kernel = kernel
        self.gate_blocks = kernel.gate_blocks
        self.peephole = bool(kernel.spec.peephole_gates)
        self.pos = {b: k for k, b in enumerate(kernel.spec.blocks)}
        self.specs: dict[tuple[int, int], native.Spec] = {}  # read only by C: shared

    def native_spec(self, batch: int, hidden: int) -> native.Spec:
        """The kernel's `native_spec` with the blocks at their offsets in the cell's order."""
        spec = self.specs.get((batch, hidden))
        if spec is None:
            spec = self.kernel.native_spec(batch, hidden)
            for b in "ifgo":
                setattr(spec, f"off_{b}", self.pos[b] * hidden if b in self.pos else -1)
            self.specs[(batch, hidden)] = spec
        return spec

    def forward(self, x: Tensor, w_ih: Tensor, bias: Tensor | None,
                state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        peep = weights[1].contiguous() if self.peephole else None
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        gates = POOL.take((steps, batch, w_hh.shape[0]), x)
        hs = x.new_empty(steps + 1, batch, hidden)
        cs = POOL.take((steps + 1, batch, hidden), x)
        hs[0], cs[0] = state0
        spec = self.native_spec(batch, hidden)
        forward, _ = native.sequence_for(x.dtype, "lstm")
        w_t, wih_t = w_hh.t().contiguous(), w_ih.t().contiguous()  # held while C reads them
        forward(ctypes.byref(spec), steps, inputs, x.data_ptr(), *_strides(x), wih_t.data_ptr(),
                _ptr(bias), gates.data_ptr(), hs.data_ptr(), cs.data_ptr(), w_t.data_ptr(),
                _ptr(peep))
        saved = {"gates": gates, "hs": hs, "cs": cs, "w_hh": w_hh, "peep": peep}
        return hs[1:], (hs[steps].clone(), cs[steps].clone()), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...],
                 x: Tensor, w_ih: Tensor, bias: Tensor | None, need_x: bool):
        gates, hs, cs, w_hh, peep = (saved[k] for k in ("gates", "hs", "cs", "w_hh", "peep"))
        steps, batch, inputs = x.shape
        hidden = hs.shape[2]
        d_out = _rows(d_out)
        dh = d_final[0].contiguous().clone()
        dc = d_final[1].contiguous().clone()
        d_x, d_w, d_b = _input_grads(x, w_ih, bias, need_x)
        d_whh = torch.zeros_like(w_hh)
        d_peep = torch.zeros_like(peep) if peep is not None else None
        work = gates.new_empty(11 * hidden)
        spec = self.native_spec(batch, hidden)
        _, backward = native.sequence_for(gates.dtype, "lstm")
        w_ih = w_ih.contiguous()
        backward(ctypes.byref(spec), steps, inputs, gates.data_ptr(), hs.data_ptr(), cs.data_ptr(),
                 w_hh.data_ptr(), w_ih.data_ptr(), x.data_ptr(), *_strides(x), d_out.data_ptr(),
                 *d_out.stride(), dh.data_ptr(), dc.data_ptr(), _ptr(peep), work.data_ptr(),
                 _ptr(d_x), *_strides(d_x), d_whh.data_ptr(), d_w.data_ptr(), _ptr(d_b),
                 _ptr(d_peep))
        d_weights = (d_whh,) if peep is None else (d_whh, d_peep)
        return d_x, d_w, d_b, (dh, dc), d_weights


class GRUSequence:
    """Whole-layer forward/backward of the reset-after `GRUKernel`."""

    n_state = 1
    gate_blocks = 3
    overwrites = ("gates", "recs")
    pooled = ("gates", "recs")

    def __init__(self, kernel: GRUKernel) -> None:
        self.kernel = kernel

    def forward(self, x: Tensor, w_ih: Tensor, bias: Tensor | None,
                state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        b_hh = weights[1].contiguous() if len(weights) == 2 and weights[1] is not None else None
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        gates = POOL.take((steps, batch, w_hh.shape[0]), x)
        recs = POOL.take((steps, batch, w_hh.shape[0]), x)
        hs = x.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        forward, _ = native.sequence_for(x.dtype, "gru")
        w_t, wih_t = w_hh.t().contiguous(), w_ih.t().contiguous()
        forward(batch, hidden, *self.kernel._codes(), steps, inputs, x.data_ptr(), *_strides(x),
                wih_t.data_ptr(), _ptr(bias), gates.data_ptr(), recs.data_ptr(), hs.data_ptr(),
                w_t.data_ptr(), _ptr(b_hh))
        saved = {"gates": gates, "recs": recs, "hs": hs, "w_hh": w_hh, "b_hh": b_hh}
        return hs[1:], (hs[steps].clone(),), saved

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...],
                 x: Tensor, w_ih: Tensor, bias: Tensor | None, need_x: bool):
        gates, recs, hs, w_hh, b_hh = (saved[k] for k in ("gates", "recs", "hs", "w_hh", "b_hh"))
        steps, batch, inputs = x.shape
        hidden = hs.shape[2]
        d_out = _rows(d_out)
        dh = d_final[0].contiguous().clone()
        d_x, d_w, d_b = _input_grads(x, w_ih, bias, need_x)
        d_whh = torch.zeros_like(w_hh)
        d_bhh = torch.zeros_like(b_hh) if b_hh is not None else None
        scratch = gates.new_empty(2 * batch * hidden)
        work = gates.new_empty(3 * hidden)
        _, backward = native.sequence_for(gates.dtype, "gru")
        w_ih = w_ih.contiguous()
        backward(batch, hidden, *self.kernel._codes(), steps, inputs, gates.data_ptr(),
                 recs.data_ptr(), hs.data_ptr(), w_hh.data_ptr(), w_ih.data_ptr(), x.data_ptr(),
                 *_strides(x), d_out.data_ptr(), *d_out.stride(), dh.data_ptr(),
                 scratch.data_ptr(), work.data_ptr(), _ptr(d_x), *_strides(d_x),
                 d_whh.data_ptr(), d_w.data_ptr(), _ptr(d_b), _ptr(d_bhh))
        d_weights = (d_whh,) if b_hh is None else (d_whh, d_bhh)
        return d_x, d_w, d_b, (dh,), d_weights


class ElmanSequence:
    """Whole-layer forward/backward of the `ElmanKernel`."""

    n_state = 1
    gate_blocks = 1
    overwrites: tuple[str, ...] = ()
    pooled: tuple[str, ...] = ()

    def __init__(self, kernel: ElmanKernel) -> None:
        self.kernel = kernel
        self.code = kernel_table.activation_code(kernel.act.name)

    def forward(self, x: Tensor, w_ih: Tensor, bias: Tensor | None,
                state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]):
        w_hh = weights[0].contiguous()
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        hs = x.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        forward, _ = native.sequence_for(x.dtype, "rnn")
        w_t, wih_t = w_hh.t().contiguous(), w_ih.t().contiguous()
        forward(batch, hidden, self.code, steps, inputs, x.data_ptr(), *_strides(x),
                wih_t.data_ptr(), _ptr(bias), hs.data_ptr(), w_t.data_ptr())
        return hs[1:], (hs[steps].clone(),), {"hs": hs, "w_hh": w_hh}

    def backward(self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...],
                 x: Tensor, w_ih: Tensor, bias: Tensor | None, need_x: bool):
        hs, w_hh = saved["hs"], saved["w_hh"]
        steps, batch, inputs = x.shape
        hidden = hs.shape[2]
        d_out = _rows(d_out)
        dh = d_final[0].contiguous().clone()
        d_x, d_w, d_b = _input_grads(x, w_ih, bias, need_x)
        d_whh = torch.zeros_like(w_hh)
        d_a = hs.new_empty(batch * hidden)
        _, backward = native.sequence_for(hs.dtype, "rnn")
        w_ih = w_ih.contiguous()
        backward(batch, hidden, self.code, steps, inputs, hs.data_ptr(), w_hh.data_ptr(),
                 w_ih.data_ptr(), x.data_ptr(), *_strides(x), d_out.data_ptr(), *d_out.stride(),
                 dh.data_ptr(), d_a.data_ptr(), _ptr(d_x), *_strides(d_x), d_whh.data_ptr(),
                 d_w.data_ptr(), _ptr(d_b))
        return d_x, d_w, d_b, (dh,), (d_whh,)


class _LayerFunction(torch.autograd.Function):
    """Autograd node for one layer-direction, the input projection included, all in C."""

    @staticmethod
    def forward(ctx, sequence: Any, n_state: int, x: Tensor, weight_ih: Tensor,
                bias: Tensor | None, *tensors: Tensor):
        state0 = tuple(tensors[:n_state])
        weights = tuple(tensors[n_state:])
        with torch.no_grad():
            x_rows = _rows(x)
            out, final, saved = sequence.forward(x_rows, weight_ih, bias, state0, weights)
        ctx.save_for_backward(x_rows, weight_ih, bias)
        ctx.sequence, ctx.saved = sequence, saved
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, *d_final: Tensor):
        saved, sequence = ctx.saved, ctx.sequence
        kept = _graph_kept()
        if kept:  # a second backward will read the buffers this one overwrites
            saved = {**saved, **{k: saved[k].clone() for k in sequence.overwrites}}
        else:
            ctx.saved = None
        x, weight_ih, bias = ctx.saved_tensors
        d_x, d_w, d_b, d_state0, d_weights = sequence.backward(
            saved, d_out, tuple(d_final), x, weight_ih, bias, ctx.needs_input_grad[2])
        if not kept:  # nothing else holds them now
            for k in sequence.pooled:
                POOL.give(saved[k])
        return (None, None, d_x, d_w, d_b, *d_state0, *d_weights)


_LSTM_SEQUENCES: dict[Any, LSTMSequence] = {}


def sequence_kernel(kernel: Any) -> tuple[Any, str | None]:
    """(the whole-sequence form of a `bptt` kernel, None), or (None, why there is none).

    Only the exact built-in kernel classes qualify (a subclass may change the math)."""
    if type(kernel) is LSTMKernel:
        if kernel.spec.full_gate_recurrence:
            return None, "the fed-back gates of full_gate_recurrence (fgr) have no C loop"
        sequence = _LSTM_SEQUENCES.get(kernel.spec)  # a kernel is a function of its spec
        if sequence is None:
            sequence = _LSTM_SEQUENCES[kernel.spec] = LSTMSequence(kernel)
        return sequence, None
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
    if x.dim() != 3:
        raise ValueError(f"native backend: input must be (T, B, I), got {tuple(x.shape)}")
    if reverse:
        x = x.flip(0)
    state0 = tuple(s.contiguous() for s in state)
    bias = projection_bias(cell, weights)
    tensors = (weights.weight_ih, *state0, *cell.bptt_weights(weights))
    if bias is not None:
        bias = bias.contiguous()
        tensors += (bias,)
    odd = [t for t in tensors if t is not None and t.dtype != x.dtype]
    if odd:  # C reads raw memory: a mismatch would not raise there
        raise ValueError(f"backend='native': input dtype {x.dtype} and weight/state dtype "
                         f"{odd[0].dtype} differ; accepted: one dtype for all")
    result = _LayerFunction.apply(sequence, sequence.n_state, x, weights.weight_ih, bias,
                                  *state0, *cell.bptt_weights(weights))
    out, final = result[0], tuple(result[1:])
    return (out.flip(0) if reverse else out), final


ENGINE = Engine(run_native, supports_native)
