"""The Elman RNN cell, h = act(W x + b_ih + R h_prev + b_hh): the math of `torch.nn.RNN`."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from variants.activations import ACTIVATIONS, get_activation
from variants.cell import Carry, Cell


class ElmanCell(Cell):
    """Vanilla (Elman 1990) RNN; ``nonlinearity`` is ``tanh`` (default) or ``relu`` as in torch.

    It has no gates to record; its gradient flow through time is still measured.
    """

    name = "rnn"
    paper = "Elman 1990, Finding structure in time (torch.nn.RNN)"
    paper_equations = "h = act(W x + b_ih + R h_prev + b_hh), act = tanh or relu"
    blocks = ("h",)
    state_names = ("h",)
    options = {"nonlinearity": "tanh"}
    math_members = (*Cell.math_members, "act")

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        get_activation("nonlinearity", self.nonlinearity, ("tanh", "relu"))  # checks the name

    def act(self, x: Tensor) -> Tensor:
        """The nonlinearity, looked up by its option's name (as the kernels read it)."""
        return ACTIVATIONS[self.nonlinearity](x)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        return (self.act(xp_t + hp_t),)

    # ---- fast paths ----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.rnn import ElmanKernel

        return ElmanKernel(self.nonlinearity)

    def triton_pointwise(self):
        from variants.backends import kernel_table
        from variants.backends.triton import cells
        from variants.backends.triton.spec import TritonCellSpec

        return TritonCellSpec(cells.rnn_fwd, cells.rnn_bwd, kernel_table.rnn_flags(
            self.nonlinearity), n_blocks=1, has_c=False, n_saved=1, separate_recurrent=False)

    def torch_fused(self) -> str | None:
        return "rnn_" + self.nonlinearity

    def torch_family(self) -> type[nn.Module]:
        return nn.RNN
