"""Gradient-norm clipping with torch's own ops and none of its per-call grouping (issue 27).

`torch.nn.utils.clip_grad_norm_` groups the gradients by device and dtype twice and wraps each
half in Python helpers: ~40 us a call at study sizes, for ~6 small ops. `clip_grad_norm` runs
those same ops (`_foreach_norm`, `vector_norm` of their stack, `max_norm / (norm + 1e-6)`
clamped to 1, `_foreach_mul_`) directly where every gradient is a dense tensor of one CPU
dtype, so the gradients come out bit for bit the same (tests/test_lean_step.py); it skips the
multiplication when the factor is exactly 1 (multiplying by 1 changes no bit).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


@torch.no_grad()
def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor | None:
    """Scale the gradients of `parameters` to a global 2-norm of at most `max_norm`, as
    `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` does, and return the norm; None
    (nothing done) where the gradients are not all dense CPU tensors of one dtype (torch's
    foreach path)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    dtype = grads[0].dtype
    for grad in grads:
        if type(grad) is not torch.Tensor or grad.is_sparse or grad.device.type != "cpu" \
                or grad.dtype != dtype:
            return None
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    factor = torch.clamp(float(max_norm) / (total + 1e-6), max=1.0)
    if factor.item() != 1.0:  # NaN included: torch multiplies by it
        torch._foreach_mul_(grads, factor)
    return total
