"""The interface of a `bptt` kernel: what a cell's ``bptt_kernel()`` returns.

Imports nothing of `variants`, so a user cell can name it without loading the backend.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import Tensor


class BPTTKernel(Protocol):
    """The pointwise forward and backward of one cell, looped over time by the kernel."""

    n_state: int  # 1 for (h,), 2 for (h, c)
    gate_blocks: int  # number of H-sized blocks in xp
    overwrites: tuple[str, ...]  # keys of `saved` that backward overwrites (e.g. the gates)

    def forward(
        self, xp: Tensor, state0: tuple[Tensor, ...], weights: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...], dict[str, Any]]: ...

    def backward(
        self, saved: dict[str, Any], d_out: Tensor, d_final: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]: ...
