"""Backend `auto`: the first backend of the input's device's preference list that supports the cell.

- CUDA: `cudnn` for cells equal to torch's own op (rnn, lstm, gru with default activations): cuDNN's
  fused kernels beat the first Triton kernel by 2.4-4.4x at H <= 128 (ANCHORS.md, H200); then
  `triton`; then `bptt`; then `reference`.
- CPU: `native` (the whole layer in C: time loops, input projection and weight gradients) where
  H <= `CPU_NATIVE_MAX_HIDDEN`: after the whole-layer kernel (issue 27, 2026-12-07, the 2-core
  AVX-512 machine at load ~5.5, `devtools.speed --backends native --against bptt`, B = 32) it
  took 0.45-0.48x of `bptt`'s time at H = 128 (T = 100), 0.44-0.57x at H = 256 and 0.51-0.68x at
  H = 512 (T = 50) with one thread, 0.26-0.50x at H = 256-512 with two; larger H was not
  measured, so `bptt` takes over above 512 (within 1.2x of torch's fused modules or faster,
  results/speed/cpu-2core.md), then `reference`.
- Both: `scan` first for the cells that declare a diagonal-linear recurrence (minGRU, minLSTM;
  no other backend serves them), results/speed/scan-cpu-2core.md.

Each backend answers for itself (`supports(cell, x, recurrent_mask)`: the cell's fast-path hooks,
recurrent_dropout, device), so adding a backend or a cell touches one place: `PREFERENCE` or the
cell. The choice is `choose_backend(cell, x, recurrent_mask)`, never silent: tests and the speed
table name it. Before `auto` first trusts `triton` for a cell on a device, `triton.probe` checks
it against the reference on a 3-step probe; on disagreement it warns and uses `reference`.
"""

from __future__ import annotations

from torch import Tensor

from variants.backends import Engine, get_engine
from variants.cell import Cell
from variants.engine import LayerWeights, run_reference

PREFERENCE: dict[str, tuple[str, ...]] = {
    "cuda": ("cudnn", "scan", "triton", "bptt", "reference"),
    "cpu": ("scan", "bptt", "reference"),
}
FALLBACK = ("scan", "bptt", "reference")  # other device types
CPU_NATIVE_MAX_HIDDEN = 512  # up to here `native` was measured to beat `bptt` on CPU (issue 27)
CPU_SMALL = ("scan", "native", "bptt", "reference")  # the CPU order at H <= that


def first_supported(order: tuple[str, ...], cell: Cell, x: Tensor,
                    recurrent_mask: Tensor | None) -> str:
    """The first backend of `order` whose `supports` accepts the request (else `reference`)."""
    for name in order:
        if get_engine(name).supports(cell, x, recurrent_mask) is None:
            return name
    return "reference"


def choose_backend(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str:
    """The backend `auto` uses for this cell and input."""
    order = PREFERENCE.get(x.device.type, FALLBACK)
    if x.device.type == "cpu" and cell.hidden_size <= CPU_NATIVE_MAX_HIDDEN:
        order = CPU_SMALL
    return first_supported(order, cell, x, recurrent_mask)


def resolve_auto(
    cell: Cell, x: Tensor, weights: LayerWeights, recurrent_mask: Tensor | None = None
) -> str:
    """The backend `auto` runs for this cell and input: `choose_backend`'s pick, or `reference`
    where the triton probe finds a disagreement."""
    name = choose_backend(cell, x, recurrent_mask)
    if name == "triton":
        from variants.backends.triton.probe import triton_disagreement

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
    name = resolve_auto(cell, x, weights, recurrent_mask)
    run = run_reference if name == "reference" else get_engine(name).run
    return run(cell, x, state, weights, reverse, recurrent_mask)


ENGINE = Engine(run_auto)
