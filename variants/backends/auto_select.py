"""Backend `auto`: triton on CUDA, bptt on CPU, the reference loop where neither can serve.

Falls back to `reference` (documented, never silent in the layer's repr: the choice is
`choose_backend(cell, x, recurrent_mask)`) for cells without a kernel, for recurrent_dropout in
training, and for CUDA when triton is not installed.
"""

from __future__ import annotations

import importlib.util

from torch import Tensor

from variants.cell import Cell
from variants.engine import LayerWeights, run_reference


def choose_backend(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str:
    """The backend `auto` uses for this cell and input."""
    if recurrent_mask is not None:
        return "reference"
    if x.is_cuda:
        if importlib.util.find_spec("triton") is None:
            return "reference"
        from variants.backends.triton_backend import triton_spec

        try:
            triton_spec(cell)
        except ValueError:
            return "bptt"
        return "triton"
    from variants.backends.bptt_kernels import has_kernel

    return "bptt" if has_kernel(cell) else "reference"


def run_auto(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `auto`: dispatch to `choose_backend`'s pick."""
    from variants.backends import get_backend

    name = choose_backend(cell, x, recurrent_mask)
    run = run_reference if name == "reference" else get_backend(name)
    return run(cell, x, state, weights, reverse, recurrent_mask)
