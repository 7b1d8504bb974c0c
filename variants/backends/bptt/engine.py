"""Hand-written BPTT backend (CPU): one autograd Function runs a whole layer-direction.

The forward pass runs under no_grad: one matmul projects the input for all steps
(``x W_ih^T + b``) into a (T, B, G*H) buffer, and per step one in-place `addmm_` adds the
recurrent matmul and the cell's pointwise math turns that row into gate activations, in place.
The backward pass is a Python loop over the cell's pointwise derivative that overwrites the same
buffer with d(pre-activation), with one matmul per step for d h_prev; the weight gradients
(W_ih, b, W_hh) and d x are single matmuls over all steps after the loop. Reusing one buffer
matters on CPU: a fresh (T, B, G*H) tensor is page-faulted in row by row, which cost more than
the pointwise math itself.

A kernel (`protocol.BPTTKernel`, what a cell's ``bptt_kernel()`` returns; the built-in ones are
in `rnn`, `lstm`, `gru`) owns the pointwise math of one cell family:
`forward(xp, state0, weights) -> (out, final_state, saved)`, free to overwrite ``xp``, and
`backward(saved, d_out, d_final) -> (d_xp, d_state0, d_weights)`, free to overwrite the saved
buffers it names in ``overwrites`` (they are copied first when the graph is kept for a second
backward, ``retain_graph=True``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from variants.backends import Engine
from variants.backends.autocast import float32_under_autocast
from variants.backends.bptt.protocol import BPTTKernel
from variants.cell import Cell, fast_path
from variants.engine import LayerWeights, projection_bias


def _graph_kept() -> bool:
    """Whether the running backward keeps the graph (``retain_graph=True``, e.g. gradcheck)."""
    getter = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if getter is None else bool(getter())


def _kernel_backward(ctx, d_out: Tensor, d_final: tuple[Tensor, ...]):
    """The kernel's backward; it overwrites its saved buffers unless the graph is kept."""
    saved = ctx.saved
    if _graph_kept():
        saved = {**saved, **{k: saved[k].clone() for k in getattr(ctx.kernel, "overwrites", ())}}
    else:
        ctx.saved = None  # the buffers are consumed (and freed with the graph)
    return ctx.kernel.backward(saved, d_out, d_final)


class _SequenceFunction(torch.autograd.Function):
    """Autograd node for one layer-direction over a projected sequence xp (T, B, G*H)."""

    @staticmethod
    def forward(ctx, kernel: BPTTKernel, n_state: int, xp: Tensor, *tensors: Tensor):
        state0 = tuple(tensors[:n_state])
        weights = tuple(tensors[n_state:])
        with torch.no_grad():
            out, final, saved = kernel.forward(xp.clone(), state0, weights)
        ctx.kernel, ctx.saved = kernel, saved
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, *d_final: Tensor):
        d_xp, d_state0, d_weights = _kernel_backward(ctx, d_out, tuple(d_final))
        return (None, None, d_xp, *d_state0, *d_weights)


class _ProjectedSequenceFunction(torch.autograd.Function):
    """Autograd node for one layer-direction including the input projection x W_ih^T + b."""

    @staticmethod
    def forward(ctx, kernel: BPTTKernel, n_state: int, x: Tensor, weight_ih: Tensor,
                bias: Tensor | None, *tensors: Tensor):
        state0 = tuple(tensors[:n_state])
        weights = tuple(tensors[n_state:])
        steps, batch, features = x.shape
        with torch.no_grad():
            flat = x.reshape(steps * batch, features)
            if bias is None:
                xp = torch.mm(flat, weight_ih.t())
            else:
                xp = torch.addmm(bias, flat, weight_ih.t())
            out, final, saved = kernel.forward(xp.view(steps, batch, -1), state0, weights)
        ctx.save_for_backward(x, weight_ih)
        ctx.kernel, ctx.saved, ctx.has_bias = kernel, saved, bias is not None
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, *d_final: Tensor):
        d_xp, d_state0, d_weights = _kernel_backward(ctx, d_out, tuple(d_final))
        x, weight_ih = ctx.saved_tensors
        steps, batch, features = x.shape
        d_flat = d_xp.reshape(steps * batch, -1)
        need_x, need_w, need_b = ctx.needs_input_grad[2:5]
        d_x = torch.mm(d_flat, weight_ih).view_as(x) if need_x else None
        d_w = torch.mm(d_flat.t(), x.reshape(steps * batch, features)) if need_w else None
        d_b = d_flat.sum(0) if ctx.has_bias and need_b else None
        return (None, None, d_x, d_w, d_b, *d_state0, *d_weights)


def _check_state(kernel: BPTTKernel, state0: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    if len(state0) != kernel.n_state:
        raise ValueError(
            f"bptt backend: state must hold {kernel.n_state} tensor(s), got {len(state0)}"
        )
    return tuple(s.contiguous() for s in state0)


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
    state0 = _check_state(kernel, state0)
    result = _SequenceFunction.apply(kernel, kernel.n_state, xp.contiguous(), *state0, *weights)
    return result[0], tuple(result[1:])


def run_projected_sequence(
    kernel: BPTTKernel,
    x: Tensor,
    weight_ih: Tensor,
    bias: Tensor | None,
    state0: tuple[Tensor, ...],
    weights: tuple[Tensor, ...],
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """`run_sequence` of ``xp = x W_ih^T + bias`` (x: (T, B, I)), the projection inside the node.

    Differentiable with respect to x, W_ih, bias, every state tensor and every weight.
    """
    if x.dim() != 3:
        raise ValueError(f"bptt backend: input must be (T, B, I), got {tuple(x.shape)}")
    state0 = _check_state(kernel, state0)
    result = _ProjectedSequenceFunction.apply(kernel, kernel.n_state, x, weight_ih, bias,
                                              *state0, *weights)
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


def _kernel(cell: Cell, recurrent_mask: Tensor | None) -> tuple[BPTTKernel | None, str | None]:
    """(the cell's kernel, None) or (None, the one-line reason `bptt` cannot run it)."""
    if recurrent_mask is not None:
        return None, ("backend='bptt' does not implement recurrent_dropout; accepted: "
                      "recurrent_dropout=0 (or eval mode), or backend='reference'")
    kernel, reason = fast_path(cell, "bptt_kernel")
    if reason is None:
        return kernel, None
    return None, (f"backend='bptt' has no kernel for variant {cell.name!r} ({reason}); "
                  "accepted: cells whose bptt_kernel() holds; use backend='reference'")


def supports_bptt(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when `run_bptt` can run `cell`; else the one-line reason."""
    return _kernel(cell, recurrent_mask)[1]


@float32_under_autocast
def run_bptt(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `bptt`: the contract of `variants.engine.run_reference`, with hand-written BPTT."""
    kernel, reason = _kernel(cell, recurrent_mask)
    if reason is not None:
        raise ValueError(reason)
    return run_kernel(kernel, cell, x, state, weights, reverse)


def run_kernel(kernel: BPTTKernel, cell: Cell, x: Tensor, state: tuple[Tensor, ...],
               weights: LayerWeights, reverse: bool = False) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run `kernel` (the cell's, or one standing for it) over x as `run_bptt` does."""
    order = getattr(kernel, "permutation", None)
    if order is not None:
        weights = permute_blocks(weights, order, cell.hidden_size)
    if reverse:
        x = x.flip(0)
    out, final = run_projected_sequence(kernel, x, weights.weight_ih,
                                        projection_bias(cell, weights), tuple(state),
                                        tuple(cell.bptt_weights(weights)))
    if reverse:
        out = out.flip(0)
    return out, final


ENGINE = Engine(run_bptt, supports_bptt)
