"""GRU cells: `gru` is torch/cuDNN's reset-after form, `gru_cho` Cho et al.'s reset-before form.

Both use torch's parameter layout (blocks r, z, n; ``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``) and torch's convention that z keeps the old state: h = (1 - z) n + z h_prev.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from variants.activations import ACTIVATIONS, RECURRENT_ACTIVATIONS, get_activation
from variants.cell import Carry, Cell, StepWeights


class GRUCell(Cell):
    """GRU with the reset gate applied AFTER the recurrent matmul (torch.nn.GRU, cuDNN).

    r = s(W_r x + b_ir + R_r h + b_hr), z = s(W_z x + b_iz + R_z h + b_hz),
    n = act(W_n x + b_in + r * (R_n h + b_hn)), h' = (1 - z) * n + z * h.
    ``b_hn`` sits inside the reset product, so b_hh is not folded into the input projection.
    """

    name = "gru"
    paper = "Cho et al. 2014, reset-after form of torch.nn.GRU / cuDNN"
    paper_equations = ("r, z = s(W x + b_i + R h + b_h); n = tanh(W_n x + b_in + r * (R_n h + "
                       "b_hn)); h = (1 - z) n + z h_prev")
    blocks = ("r", "z", "n")
    state_names = ("h",)
    options = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    fold_recurrent_bias = False
    math_members = (*Cell.math_members, "act", "gate")
    gates = ("r", "z")
    candidates = ("n",)
    keep_gate = "z"  # torch's convention: z keeps h_prev (Chung et al. 2014 write 1 - z)

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        # check the names; `act` and `gate` look them up per call, as the kernels read them
        get_activation("activation", self.activation)
        get_activation("recurrent_activation", self.recurrent_activation, RECURRENT_ACTIVATIONS)

    def act(self, x: Tensor) -> Tensor:
        """The activation of the candidate n (``activation``)."""
        return ACTIVATIONS[self.activation](x)

    def gate(self, x: Tensor) -> Tensor:
        """The activation of the gates r, z (``recurrent_activation``)."""
        return ACTIVATIONS[self.recurrent_activation](x)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        h_prev = carry[0]
        xr, xz, xn = xp_t.chunk(3, 1)
        hr, hz, hn = hp_t.chunk(3, 1)
        r = self.gate(xr + hr)
        z = self.gate(xz + hz)
        n = self.act(torch.addcmul(xn, r, hn))
        self.record_gates(r=r, z=z, n=n)
        return (torch.addcmul(n, z, h_prev - n),)

    # ---- fast paths ----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.gru import GRUKernel

        return GRUKernel(self.activation, self.recurrent_activation)

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        if weights.bias_hh is None:
            return (weights.weight_hh,)
        return (weights.weight_hh, weights.bias_hh)

    def triton_pointwise(self):
        from variants.backends import kernel_table
        from variants.backends.triton import cells
        from variants.backends.triton.spec import TritonCellSpec

        flags = kernel_table.gru_flags(self.activation, self.recurrent_activation)
        return TritonCellSpec(cells.gru_fwd, cells.gru_bwd, flags, n_blocks=3, has_c=False,
                              n_saved=4, separate_recurrent=True)

    def torch_fused(self) -> str | None:
        stock = self.activation == "tanh" and self.recurrent_activation == "sigmoid"
        return "gru" if stock else None

    def torch_family(self) -> type[nn.Module]:
        return nn.GRU


class GRUChoCell(GRUCell):
    """GRU with the reset gate applied BEFORE the recurrent matmul (Cho et al. 2014, eqs. 5-8).

    r, z as in `gru`; n = act(W_n x + b_in + R_n (r * h) + b_hn); h' = (1 - z) * n + z * h.
    All biases add linearly here, so b_hh is folded into the input projection.
    """

    name = "gru_cho"
    paper = "Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder (eqs. 5-8)"
    paper_equations = ("r, z = s(W x + R h + b); n = tanh(W_n x + R_n (r * h) + b_n); h = (1 - z) "
                       "n + z h_prev")
    fold_recurrent_bias = True
    math_in = "step"  # R_n reads r * h_prev: the recurrence is not h_prev R^T

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        hidden = self.hidden_size
        rz_t, n_t = weights.weight_hh_t.split((2 * hidden, hidden), dim=1)
        return StepWeights(rz_t, weights.bias_hh, {**weights.extra, "weight_hh_n_t": n_t})

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        h_prev = carry[0]
        xr, xz, xn = xp_t.chunk(3, 1)
        hr, hz = torch.mm(h_in, weights.weight_hh_t).chunk(2, 1)
        r = self.gate(xr + hr)
        z = self.gate(xz + hz)
        n = self.act(torch.addmm(xn, r * h_in, weights.extra["weight_hh_n_t"]))
        self.record_gates(r=r, z=z, n=n)
        return (torch.addcmul(n, z, h_prev - n),)

    # ---- fast paths (its own: the math above differs from gru's) ------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.gru import GRUChoKernel

        return GRUChoKernel(self.activation, self.recurrent_activation)

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        return (weights.weight_hh,)

    def triton_pointwise(self):
        from variants.backends import kernel_table
        from variants.backends.triton.spec import TritonCellSpec

        flags = kernel_table.gru_flags(self.activation, self.recurrent_activation)
        return TritonCellSpec(None, None, flags, n_blocks=3, has_c=False, n_saved=4,
                              separate_recurrent=False, kernel="gru_reset_before")

    def torch_fused(self) -> str | None:
        return None  # torch has no reset-before GRU
