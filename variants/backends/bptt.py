"""Hand-written BPTT backend (CPU): one autograd Function runs a whole layer-direction.

The forward pass runs under no_grad: per step one `addmm` (recurrent matmul) and the cell's
pointwise math, writing gate activations into preallocated (T, B, ...) buffers. The backward
pass is a Python loop over the cell's pointwise derivative that writes d(pre-activation) into a
preallocated (T, B, G*H) buffer, with one matmul per step for d h_prev; the recurrent weight
gradients are single matmuls over all steps after the loop. The input projection
`x @ W_ih^T + b` stays outside this Function (one matmul; autograd gives dW_ih, db and dx as one
matmul each).

A kernel (see `bptt_rnn`, `bptt_lstm`, `bptt_gru`) owns the pointwise math of one cell family:
`forward(xp, state0, weights) -> (out, final_state, saved)` and
`backward(saved, d_out, d_final) -> (d_xp, d_state0, d_weights)`.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from variants.cell import Cell
from variants.engine import LayerWeights, input_projection


class BPTTKernel(Protocol):
    """The pointwise forward and backward of one cell, looped over time by the kernel."""

    n_state: int  # 1 for (h,), 2 for (h, c)
    gate_blocks: int  # number of H-sized blocks in xp

    def forward(
        self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...], dict[str, Any]]: ...

    def backward(
        self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]: ...


class _SequenceFunction(torch.autograd.Function):
    """Autograd node for one layer-direction over the whole sequence."""

    @staticmethod
    def forward(ctx, kernel: BPTTKernel, n_state: int, xp: Tensor, *tensors: Tensor):
        state0 = tuple(tensors[:n_state])
        weights = tuple(tensors[n_state:])
        with torch.no_grad():
            out, final, saved = kernel.forward(xp, state0, weights)
        ctx.kernel = kernel
        ctx.n_state = n_state
        ctx.saved = saved
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, *d_final: Tensor):
        d_xp, d_state0, d_weights = ctx.kernel.backward(ctx.saved, d_out, tuple(d_final))
        return (None, None, d_xp, *d_state0, *d_weights)


def run_sequence(
    kernel: BPTTKernel, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run `kernel` over xp (T, B, G*H) from state0; returns (out (T, B, H), final state).

    Differentiable with respect to xp, every state tensor and every weight (first order only).
    """
    if xp.dim() != 3:
        raise ValueError(
            f"bptt backend: projected input must be (T, B, G*H), got {tuple(xp.shape)}"
        )
    if len(state0) != kernel.n_state:
        raise ValueError(
            f"bptt backend: state must hold {kernel.n_state} tensor(s), got {len(state0)}"
        )
    state0 = tuple(s.contiguous() for s in state0)
    result = _SequenceFunction.apply(kernel, kernel.n_state, xp.contiguous(), *state0, *weights)
    return result[0], tuple(result[1:])


def permute_blocks(weights: LayerWeights, order: list[int], hidden: int) -> LayerWeights:
    """Reorder the H-sized gate blocks of W_ih, W_hh and the biases (differentiably)."""
    if order == list(range(len(order))):
        return weights
    index = torch.cat([torch.arange(k * hidden, (k + 1) * hidden) for k in order])
    index = index.to(weights.weight_ih.device)

    def pick(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.index_select(0, index)

    return LayerWeights(pick(weights.weight_ih), pick(weights.weight_hh), pick(weights.bias_ih),
                        pick(weights.bias_hh), weights.extra)


def run_bptt(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `bptt`: the contract of `variants.engine.run_reference`, with hand-written BPTT."""
    from variants.backends.bptt_kernels import kernel_for, kernel_weights

    if recurrent_mask is not None:
        raise ValueError(
            "backend='bptt' does not implement recurrent_dropout; accepted: recurrent_dropout=0 "
            "(or eval mode), or backend='reference'"
        )
    kernel = kernel_for(cell)
    order = getattr(kernel, "permutation", None)
    if order is not None:
        weights = permute_blocks(weights, order, cell.hidden_size)
    xp = input_projection(cell, x, weights)
    if reverse:
        xp = xp.flip(0)
    out, final = run_sequence(kernel, xp, tuple(state), kernel_weights(cell, kernel, weights))
    if reverse:
        out = out.flip(0)
    return out, final
