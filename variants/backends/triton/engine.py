"""Backend `triton`: the fused recurrent kernels behind an autograd Function, per layer-direction.

The input projection stays one matmul outside (autograd gives dW_ih, db, dx); the kernels run
the whole time loop (forward: one launch; backward: one launch); the recurrent weight gradients
are single matmuls after the backward launch. Cells served: rnn, gru and the configurable LSTM
(lstm, peephole, cifg, nig, nfg, nog, niaf, noaf; fgr with its gate-to-gate matmul as a second
reduction in the same kernels), gru_cho through its own two-phase kernels (`gru_cho`): each
built-in cell's `triton_pointwise()` returns its `spec.TritonCellSpec`, and so can a user cell's.
Not served (`supports_triton` says why; a forced backend raises it as a ValueError): cells
without a valid `triton_pointwise()` (`variants.cell.fast_path`); recurrent_dropout in training.
Precision: fp32 with exact ("ieee") dots, TF32 dots when torch.backends.cuda.matmul.allow_tf32
is set, and bf16 (fp32 accumulation and fp32 cell state). On CPU tensors it runs only under
Triton's interpreter (TRITON_INTERPRET=1, for tests).
"""

from __future__ import annotations

import importlib.util
import os

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from variants.backends import Engine, kernel_table
from variants.backends.autocast import float32_under_autocast
from variants.backends.triton.spec import TritonCellSpec
from variants.cell import Cell, fast_path
from variants.engine import LayerWeights, input_projection


def interpreting() -> bool:
    """Whether Triton runs in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def supports_triton(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when `run_triton` can run `cell` on `x`; else the one-line reason."""
    if recurrent_mask is not None:
        return ("backend='triton' does not implement recurrent_dropout; accepted: "
                "recurrent_dropout=0 (or eval mode), or backend='reference'")
    if not x.is_cuda and not interpreting():
        return ("backend='triton' needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tests); "
                "accepted on CPU: backend='bptt' or 'reference'")
    if importlib.util.find_spec("triton") is None:
        return "backend='triton' needs the triton package (pip install triton)"
    spec, reason = fast_path(cell, "triton_pointwise")
    if reason is None:
        return offsets_overflow(spec, x, cell.hidden_size)
    return (f"backend='triton' has no fused kernel for variant {cell.name!r} ({reason}); "
            "accepted: cells whose triton_pointwise() holds; use backend='bptt' or 'reference'")


OFFSET_LIMIT = 2**31  # the kernels' offsets (e.g. t * B * gh) are 32-bit integers


def offsets_overflow(spec: TritonCellSpec, x: Tensor, hidden: int) -> str | None:
    """Why the kernels cannot index this request's buffers, or None.

    The kernels compute element offsets such as ``t * B * gh + row * gh + col`` in 32-bit
    integers; at 2**31 elements or more in a buffer they would wrap and read or write the wrong
    memory silently (TorchRL hit exactly this, pytorch/rl PR #3818). The largest buffer is
    (T + 1, B, W * H) with W the gate blocks or saved slots per step, whichever is more.
    """
    steps, batch = x.shape[0], x.shape[1]
    elements = (steps + 1) * batch * max(spec.n_blocks, spec.n_saved, 1) * hidden
    if elements < OFFSET_LIMIT:
        return None
    return (f"backend='triton' indexes its buffers with 32-bit offsets: (T + 1) * B * "
            f"{max(spec.n_blocks, spec.n_saved, 1)} * H = {elements} elements here, at least "
            "2**31; accepted: fewer steps * batch rows, or backend='cudnn', 'bptt' or 'reference'")


def triton_spec(cell: Cell) -> TritonCellSpec:
    """The kernel spec `cell` declares (`Cell.triton_pointwise`); ValueError when it has none."""
    spec, reason = fast_path(cell, "triton_pointwise")
    if reason is not None:
        raise ValueError(f"backend='triton' has no fused kernel for variant {cell.name!r} "
                         f"({reason}); use backend='bptt' or 'reference'")
    return spec


def launch_config(spec: TritonCellSpec, hidden: int, backward: bool) -> dict[str, int]:
    """Tile sizes and launch options of one kernel (blocks are constexprs, the rest options).

    16 batch rows a program, 64-wide column tiles, 32-wide reduction chunks, 8 warps. Chosen so
    that no kernel spills registers when compiled for sm_90a (fp32 exact and TF32, bf16), as
    `ptxas -v` reports through `triton_aot` (tested): with 4 warps the fp32 forward of every
    variant but rnn spilled 32-324 bytes a thread. fgr's extra gate tiles take 32-wide column
    tiles forward and 16-wide reduction chunks backward; gru_cho pipelines 2 stages, not 3.
    """
    config = {"BLOCK_B": 16, "BLOCK_H": max(16, min(64, triton_next_pow2(hidden))),
              "BLOCK_K": 32, "num_warps": 8, "num_stages": 3}
    if spec.gate_recurrence is not None:
        if backward:
            config["BLOCK_K"] = 16
        else:
            config["BLOCK_H"] = min(config["BLOCK_H"], 32)
    if spec.kernel == "gru_reset_before":
        config["num_stages"] = 2
    return config


def matmul_precision(dtype: torch.dtype) -> str:
    """`tl.dot`'s input precision: TF32 for fp32 when torch allows it for matmuls, else exact."""
    allow = dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32
    return "tf32" if allow else "ieee"


def triton_next_pow2(n: int) -> int:
    """Smallest power of two >= n."""
    return 1 << max(0, (n - 1).bit_length())


class _FusedSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec: TritonCellSpec, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor,
                b_hh: Tensor | None, peep: Tensor | None, w_gate: Tensor | None):
        from variants.backends.triton.kernels import recurrent_forward_kernel

        steps, batch, gh = xp.shape
        hidden = gh // spec.n_blocks
        hs = xp.new_empty(steps + 1, batch, hidden)
        cs = xp.new_empty(steps + 1, batch, hidden, dtype=torch.float32) if spec.has_c else hs
        hs[0] = h0
        if spec.has_c:
            cs[0] = c0
        saved = xp.new_empty(steps, batch, spec.n_saved * hidden)
        config = launch_config(spec, hidden, backward=False)
        precision = matmul_precision(xp.dtype)
        recurrent_forward_kernel[(triton_cdiv(batch, config["BLOCK_B"]),)](
            xp, w_hh, w_hh if b_hh is None else b_hh, w_hh if peep is None else peep,
            w_hh if w_gate is None else w_gate, hs, cs, saved, steps, batch, hidden,
            POINTWISE=spec.forward, FLAGS=spec.flags, N_BLOCKS=spec.n_blocks, HAS_C=spec.has_c,
            HAS_BHH=b_hh is not None, N_PEEP=0 if peep is None else peep.shape[0],
            N_SAVED=spec.n_saved, GATE_REC=w_gate is not None, PRECISION=precision,
            DOT_FP32=interpreting(), **config,
        )
        ctx.spec, ctx.precision = spec, precision
        ctx.has_bhh = b_hh is not None
        ctx.save_for_backward(hs, cs, saved, w_hh, peep, w_gate)
        c_final = cs[steps].to(xp.dtype, copy=True) if spec.has_c else hs[steps].clone()
        return hs[1:], hs[steps].clone(), c_final

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, d_h: Tensor, d_c: Tensor):
        from variants.backends.triton.kernels import recurrent_backward_kernel

        spec = ctx.spec
        hs, cs, saved, w_hh, peep, w_gate = ctx.saved_tensors
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        gh = spec.n_blocks * hidden
        dh_buf = d_h.float().contiguous().clone()
        dc_buf = d_c.float().contiguous().clone()
        d_xp = hs.new_empty(steps, batch, gh)
        d_rec = hs.new_empty(steps, batch, gh) if spec.separate_recurrent else d_xp
        dg_buf = dh_buf.new_zeros(batch, 3 * hidden) if w_gate is not None else dh_buf
        config = launch_config(spec, hidden, backward=True)
        recurrent_backward_kernel[(triton_cdiv(batch, config["BLOCK_B"]),)](
            d_out.contiguous(), hs, cs, saved, w_hh, w_hh if peep is None else peep,
            w_hh if w_gate is None else w_gate, d_xp, d_rec, dh_buf, dc_buf, dg_buf,
            steps, batch, hidden,
            POINTWISE_BWD=spec.backward, FLAGS=spec.flags, N_BLOCKS=spec.n_blocks,
            HAS_C=spec.has_c, SEPARATE_REC=spec.separate_recurrent,
            N_PEEP=0 if peep is None else peep.shape[0], N_SAVED=spec.n_saved,
            GATE_REC=w_gate is not None, PRECISION=ctx.precision, DOT_FP32=interpreting(),
            **config,
        )
        flat = d_rec.view(-1, gh)
        d_w = flat.t() @ hs[:-1].reshape(-1, hidden)
        d_b = flat.sum(0) if ctx.has_bhh else None
        d_peep = None
        if peep is not None:
            d_peep = _peephole_grads(spec, d_xp, cs, peep)
        d_gate = None if w_gate is None else _gate_recurrence_grad(d_xp, saved)
        d_c0 = dc_buf.to(hs.dtype) if spec.has_c else None
        return None, d_xp, dh_buf.to(hs.dtype), d_c0, d_w, d_b, d_peep, d_gate


def _gate_recurrence_grad(d_xp: Tensor, saved: Tensor) -> Tensor:
    """fgr: d w_gate = sum over t, b of [da_i, da_f, da_o]_t^T [i, f, o]_{t-1} (zero at t = 0)."""
    hidden = d_xp.shape[2] // 4
    pick = (slice(0, 2 * hidden), slice(3 * hidden, 4 * hidden))  # blocks/slots i, f and o
    d_gates = torch.cat([d_xp[..., s] for s in pick], 2)[1:]
    gates_prev = torch.cat([saved[..., s] for s in pick], 2)[:-1]  # empty for T = 1: zeros
    return d_gates.reshape(-1, 3 * hidden).t() @ gates_prev.reshape(-1, 3 * hidden)


def _peephole_grads(spec: TritonCellSpec, d_xp: Tensor, cs: Tensor, peep: Tensor) -> Tensor:
    """d p_k = sum over t, b of d a_k * c (c_{t-1} for i and f, c_t for o)."""
    bits = kernel_table.LSTM_FLAG_BITS
    has_i, has_f = bool(spec.flags & bits["has_i"]), bool(spec.flags & bits["has_f"])
    hidden = cs.shape[2]
    block = {}
    k = 0
    has_o = bool(spec.flags & bits["has_o"])
    for name, present in (("i", has_i), ("f", has_f), ("g", True), ("o", has_o)):
        if present:
            block[name] = k
            k += 1
    rows = [g for g in ("i", "f", "o") if g in block]
    d_peep = torch.empty_like(peep)
    for r, name in enumerate(rows):
        d_a = d_xp[..., block[name] * hidden : (block[name] + 1) * hidden].float()
        c_used = cs[1:] if name == "o" else cs[:-1]
        d_peep[r] = (d_a * c_used).sum((0, 1)).to(peep.dtype)
    return d_peep


class _GRUResetBeforeSequence(torch.autograd.Function):
    """gru_cho: forward and backward each one launch of `triton_gru_cho`'s kernels."""

    @staticmethod
    def forward(ctx, spec: TritonCellSpec, xp: Tensor, h0: Tensor, w_hh: Tensor):
        from variants.backends.triton.gru_cho import gru_cho_forward_kernel

        steps, batch, gh = xp.shape
        hidden = gh // 3
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = h0
        saved = xp.new_empty(steps, batch, 4 * hidden)
        config = launch_config(spec, hidden, backward=False)
        precision = matmul_precision(xp.dtype)
        gru_cho_forward_kernel[(triton_cdiv(batch, config["BLOCK_B"]),)](
            xp, w_hh, hs, saved, steps, batch, hidden, **gru_codes(spec.flags),
            PRECISION=precision, DOT_FP32=interpreting(), **config,
        )
        ctx.spec, ctx.precision = spec, precision
        ctx.save_for_backward(hs, saved, w_hh)
        return hs[1:], hs[steps].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, d_h: Tensor):
        from variants.backends.triton.gru_cho import gru_cho_backward_kernel

        hs, saved, w_hh = ctx.saved_tensors
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dh_buf = d_h.float().contiguous().clone()
        d_xp = hs.new_empty(steps, batch, 3 * hidden)
        config = launch_config(ctx.spec, hidden, backward=True)
        gru_cho_backward_kernel[(triton_cdiv(batch, config["BLOCK_B"]),)](
            d_out.contiguous(), hs, saved, w_hh, d_xp, dh_buf, steps, batch, hidden,
            **gru_codes(ctx.spec.flags), PRECISION=ctx.precision,
            DOT_FP32=interpreting(), **config,
        )
        d_a = d_xp.view(-1, 3 * hidden)
        d_w = torch.cat([d_a[:, : 2 * hidden].t() @ hs[:-1].reshape(-1, hidden),  # R_r, R_z
                         d_a[:, 2 * hidden :].t() @ saved[..., 3 * hidden :].reshape(-1, hidden)])
        return None, d_xp, dh_buf.to(hs.dtype), d_w


def gru_codes(flags: int) -> dict[str, int]:
    """gru_cho's kernels' ACT and REC codes from its FLAGS word (`kernel_table.gru_flags`)."""
    mask = kernel_table.CODE_MASK
    return {"ACT": flags & mask, "REC": flags >> kernel_table.GRU_REC_SHIFT & mask}


def triton_cdiv(a: int, b: int) -> int:
    """Ceiling of a / b."""
    return -(-a // b)


@float32_under_autocast
def run_triton(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `triton`: the contract of `variants.engine.run_reference`, in two fused launches."""
    reason = supports_triton(cell, x, recurrent_mask)
    if reason is not None:
        raise ValueError(reason)
    spec = triton_spec(cell)
    xp = input_projection(cell, x, weights)
    if reverse:
        xp = xp.flip(0)
    h0 = state[0]
    if spec.kernel == "gru_reset_before":
        out, h_t = _GRUResetBeforeSequence.apply(spec, xp.contiguous(), h0.contiguous(),
                                                 weights.weight_hh.contiguous())
        return (out.flip(0) if reverse else out), (h_t,)
    c0 = state[1] if spec.has_c else h0
    b_hh = None if cell.fold_recurrent_bias else weights.bias_hh
    peep = weights.extra[spec.peephole] if spec.peephole else None
    w_gate = weights.extra[spec.gate_recurrence] if spec.gate_recurrence else None
    out, h_t, c_t = _FusedSequence.apply(spec, xp.contiguous(), h0.contiguous(),
                                         c0.contiguous(), weights.weight_hh.contiguous(),
                                         b_hh, None if peep is None else peep.contiguous(),
                                         None if w_gate is None else w_gate.contiguous())
    if reverse:
        out = out.flip(0)
    return out, ((h_t, c_t) if spec.has_c else (h_t,))


ENGINE = Engine(run_triton, supports_triton)
