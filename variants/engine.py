"""The reference engine: runs any Cell over a sequence with torch ops and autograd.

Per sequence: one matmul projects the input for all steps (``x W_ih^T + b``). Per step: the
recurrent matmul and the cell's pointwise math only, iterating over ``xp.unbind(0)`` (indexing
``xp[t]`` on a tensor that needs grad makes backward O(T^2); ANCHORS.md, pitfalls).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from variants.cell import Carry, Cell, StepWeights


class LayerWeights(NamedTuple):
    """The parameters of one layer and direction (biases None when ``bias=False``)."""

    weight_ih: Tensor
    weight_hh: Tensor | None  # None for a cell without a recurrent matrix (`Cell.recurrent_matrix`)
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    extra: dict[str, Tensor]


def projection_bias(cell: Cell, weights: LayerWeights) -> Tensor | None:
    """The bias of the input projection: ``b_ih`` (+ ``b_hh`` when the cell folds it in)."""
    bias = weights.bias_ih
    if bias is not None and cell.fold_recurrent_bias and weights.bias_hh is not None:
        bias = bias + weights.bias_hh
    return bias


def input_projection(cell: Cell, x: Tensor, weights: LayerWeights) -> Tensor:
    """``x W_ih^T + b_ih`` (+ ``b_hh`` if folded) for all steps: (T, B, I) -> (T, B, G*H)."""
    steps, batch, features = x.shape
    flat = x.reshape(steps * batch, features)
    bias = projection_bias(cell, weights)
    if bias is None:
        projected = torch.mm(flat, weights.weight_ih.t())
    else:
        projected = torch.addmm(bias, flat, weights.weight_ih.t())
    return projected.view(steps, batch, -1)


def step_weights(cell: Cell, weights: LayerWeights) -> StepWeights:
    """The per-step weights, prepared once per sequence by the cell."""
    bias_hh = None if cell.fold_recurrent_bias else weights.bias_hh
    weight_hh_t = None if weights.weight_hh is None else weights.weight_hh.t()
    return cell.prepare_weights(StepWeights(weight_hh_t, bias_hh, weights.extra))


def run_reference(
    cell: Cell,
    x: Tensor,
    state: Carry,
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Carry]:
    """Run `cell` over x (T, B, I) from `state` (tuple of (B, H)) -> (outputs (T, B, H), state).

    ``reverse`` processes t = T-1 .. 0 and returns outputs aligned with the input's time axis.
    ``recurrent_mask`` (B, H) multiplies h_prev before the recurrent matmul at every step
    (Gal & Ghahramani 2016), never the carried state itself.
    """
    projected = input_projection(cell, x, weights).unbind(0)
    if reverse:
        projected = projected[::-1]
    per_step = step_weights(cell, weights)
    step = cell.step
    carry = cell.initial_carry(tuple(state))
    outputs = []
    append = outputs.append
    if recurrent_mask is None:
        for xp_t in projected:
            carry = step(xp_t, carry[0], carry, per_step)
            append(carry[0])
    else:
        for xp_t in projected:
            carry = step(xp_t, carry[0] * recurrent_mask, carry, per_step)
            append(carry[0])
    if reverse:
        outputs.reverse()
    return torch.stack(outputs), cell.final_state(carry)
