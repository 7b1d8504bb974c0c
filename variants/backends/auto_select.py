"""Backend `auto`: the fastest measured backend that serves the cell on the input's device.

- CUDA: `cudnn` for the variants whose math is torch's own (rnn, lstm, gru with default
  activations): cuDNN's fused kernels beat the first Triton kernel by 2.4-4.4x at H <= 128
  (ANCHORS.md, H200); `triton` for every other variant it serves; else `bptt`.
- CPU: `bptt` (within 1.2x of torch's fused modules or faster, results/speed/cpu-2core.md).
- `reference` for cells without a kernel, for recurrent_dropout in training, and on CUDA without
  triton for variants cuDNN cannot run.

The choice is `choose_backend(cell, x, recurrent_mask)`, never silent: tests and the speed
table name it. Before `auto` first trusts `triton` for a cell on a device, `triton_probe` checks
it against the reference on a 3-step probe; on disagreement it warns and uses `reference`.
"""

from __future__ import annotations

import importlib.util

from torch import Tensor

from variants.cell import Cell
from variants.engine import LayerWeights, run_reference


def choose_for_device(cell: Cell, device_type: str, recurrent_mask: Tensor | None = None) -> str:
    """The backend `auto` uses for this cell on a device of type `device_type` ("cuda", "cpu")."""
    if recurrent_mask is not None:
        return "reference"
    if device_type == "cuda":
        from variants.backends.torch_fused import torch_mode

        if torch_mode(cell) is not None:
            return "cudnn"
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


def choose_backend(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str:
    """The backend `auto` uses for this cell and input."""
    return choose_for_device(cell, "cuda" if x.is_cuda else "cpu", recurrent_mask)


def resolve_auto(
    cell: Cell, x: Tensor, weights: LayerWeights, recurrent_mask: Tensor | None = None
) -> str:
    """The backend `auto` runs for this cell and input: `choose_backend`'s pick, or `reference`
    where the triton probe finds a disagreement."""
    name = choose_backend(cell, x, recurrent_mask)
    if name == "triton":
        from variants.backends.triton_probe import triton_disagreement

        if triton_disagreement(cell, x, weights) is not None:
            name = "reference"
    return name


def run_auto(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `auto`: dispatch to `resolve_auto`'s pick."""
    from variants.backends import get_backend

    name = resolve_auto(cell, x, weights, recurrent_mask)
    run = run_reference if name == "reference" else get_backend(name)
    return run(cell, x, state, weights, reverse, recurrent_mask)
