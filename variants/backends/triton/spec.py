"""The interface of a `triton` kernel: what a cell's ``triton_pointwise()`` returns.

Imports nothing of `variants` (nor triton), so a user cell can name it without loading the backend.
The flag words and activation codes in ``flags`` follow `variants.backends.kernel_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TritonCellSpec:
    """How the shared kernel runs one cell: its two jit functions and their constants."""

    forward: Any  # @triton.jit pointwise forward (signature in `cells`)
    backward: Any  # @triton.jit pointwise backward
    flags: int
    n_blocks: int
    has_c: bool
    n_saved: int
    separate_recurrent: bool  # the cell treats x_k and r_k differently (gru)
    peephole: str | None = None  # name of the extra (n, H) peephole parameter, if any
    gate_recurrence: str | None = None  # fgr: name of the extra (3H, 3H) gate-to-gate matrix
    kernel: str = "shared"  # "gru_reset_before": gru_cho's own two-phase kernels
