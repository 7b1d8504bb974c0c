"""Backend `scan`: a parallel scan over time for cells whose recurrence is diagonal-linear in h.

A cell declares ``h_t = a_t * h_{t-1} + b_t`` with (a, b) computed from the input alone through its
``scan_coefficients()`` hook (`variants.cell`; minGRU, minLSTM); this backend projects the input
for all steps with one matmul, maps it to (a, b) with the cell's own ops, vectorised over T, and
solves the recurrence with a chunked linear scan:

1. the T steps are cut into N chunks of C ~ sqrt(T) steps; inside every chunk, all chunks at once,
   a loop over the C positions computes the chunk's solution from a zero state, ``u``, and the
   running product of its a's, ``P``;
2. a loop over the N chunks carries the state across chunk boundaries:
   ``s_{k+1} = P_k[C-1] s_k + u_k[C-1]``, ``s_0 = h_0``;
3. ``h = u + P * s`` for every step at once.

So 2 sqrt(T) vectorised steps replace T sequential ones, in linear space: no logarithm of a, b or
h_0 is taken, so b may be negative or zero and h_0 any real (Heinsen's log-space form needs b > 0
and log h_0, and its error grows with |sum log a| in float32). The backward is the same scan run
backwards: ``lam_t = dL/dh_t + a_{t+1} lam_{t+1}``; then ``dL/db_t = lam_t``,
``dL/da_t = lam_t h_{t-1}``, ``dL/dh_0 = a_1 lam_1``, and autograd takes dL/d(a, b) back through
the cell's ops to the weights. Torch ops only: CPU and CUDA.

`supports` refuses (one line) a cell without the hook (or whose hook a subclass voided), a cell
whose state is not ``(h,)``, and recurrent dropout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from variants.backends import Engine
from variants.backends.autocast import float32_under_autocast
from variants.cell import Cell, ScanCoefficients, fast_path
from variants.engine import LayerWeights, input_projection


def chunk_length(steps: int) -> int:
    """C = ceil(sqrt(T)): the chunk loop and the carry loop then take ~sqrt(T) steps each."""
    return max(1, math.isqrt(max(steps - 1, 0)) + 1)


@torch.no_grad()
def linear_scan(a: Tensor, b: Tensor, h0: Tensor, owned: bool = False) -> Tensor:
    """h_t = a_t h_{t-1} + b_t for t = 1..T from h_0: a, b (T, *S), h0 (*S) -> h (T, *S).

    ``owned``: a and b are contiguous buffers the caller gives up (overwritten, no copies)."""
    steps = a.shape[0]
    size = chunk_length(steps)
    chunks = -(-steps // size)
    pad = chunks * size - steps
    shape = (chunks, size, *a.shape[1:])
    # (N, C, *S) views of fresh buffers: u (the chunks' solutions from zero, then h) and
    # p (the running products of a inside each chunk); a = 1, b = 0 on the padded steps
    u = b.new_zeros(shape) if pad else (b if owned else b.clone()).view(shape)
    p = a.new_ones(shape) if pad else (a if owned else a.clone()).view(shape)
    if pad:
        u.view(chunks * size, *a.shape[1:])[:steps] = b
        p.view(chunks * size, *a.shape[1:])[:steps] = a
    u_l, p_l = u.unbind(1), p.unbind(1)
    for j in range(1, size):  # inside every chunk at once, position by position
        u_l[j].addcmul_(p_l[j], u_l[j - 1])
        p_l[j].mul_(p_l[j - 1])
    starts = h0.new_empty(chunks, *a.shape[1:])
    starts[0] = h0
    last_p, last_u = p_l[-1].unbind(0), u_l[-1].unbind(0)
    for k in range(1, chunks):  # carry the state over chunk boundaries
        torch.addcmul(last_u[k - 1], last_p[k - 1], starts[k - 1], out=starts[k])
    u.addcmul_(p, starts.unsqueeze(1))
    return u.view(chunks * size, *a.shape[1:])[:steps]


class _LinearScan(torch.autograd.Function):
    """h = scan(a, b, h0), differentiable in a, b and h0 (first order)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = linear_scan(a, b, h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, d_h: Tensor):
        a, h0, h = ctx.saved_tensors
        # lam_t = d_h_t + a_{t+1} lam_{t+1}: the same scan, backwards in time
        a_next = torch.empty_like(a)  # a_{t+1}, reversed in time
        a_next[0] = 0.0
        a_next[1:] = a[1:].flip(0)
        lam = linear_scan(a_next, d_h.flip(0), torch.zeros_like(h0), owned=True).flip(0)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        d_a = lam * h_prev if ctx.needs_input_grad[0] else None
        d_h0 = a[0] * lam[0] if ctx.needs_input_grad[2] else None
        return d_a, lam, d_h0


def scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """The solution (T, *S) of h_t = a_t h_{t-1} + b_t from h0, differentiable (first order)."""
    if a.shape != b.shape or a.shape[1:] != h0.shape:
        raise ValueError(f"scan: a {tuple(a.shape)} and b {tuple(b.shape)} must be (T, *S) "
                         f"and h0 {tuple(h0.shape)} must be S")
    return _LinearScan.apply(a, b, h0)


def _coefficients(cell: Cell, recurrent_mask: Tensor | None
                  ) -> tuple[ScanCoefficients | None, str | None]:
    if recurrent_mask is not None:
        return None, ("backend='scan' does not implement recurrent_dropout; accepted: "
                      "recurrent_dropout=0 (or eval mode), or backend='reference'")
    if len(cell.state_names) != 1:
        return None, (f"backend='scan' runs cells whose state is (h,); variant {cell.name!r} "
                      f"has {cell.state_names}; use backend='reference'")
    coefficients, reason = fast_path(cell, "scan_coefficients")
    if reason is not None:
        return None, (f"backend='scan' has no scan for variant {cell.name!r} ({reason}); "
                      "accepted: cells whose scan_coefficients() holds; use backend='reference'")
    return coefficients, None


def supports_scan(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when `run_scan` can run `cell`; else the one-line reason."""
    return _coefficients(cell, recurrent_mask)[1]


@float32_under_autocast
def run_scan(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `scan`: the contract of `variants.engine.run_reference`, by a parallel scan."""
    coefficients, reason = _coefficients(cell, recurrent_mask)
    if reason is not None:
        raise ValueError(reason)
    if reverse:
        x = x.flip(0)
    a, b = coefficients(input_projection(cell, x, weights), weights.extra)
    h = scan(a, b, state[0])
    final = h[-1]
    return (h.flip(0) if reverse else h), (final,)


ENGINE = Engine(run_scan, supports_scan)
