"""JANET: the forget-gate-only LSTM (van der Westhuizen & Lasenby 2018, "The unreasonable
effectiveness of the forget gate", arXiv 1804.04849, Sec. 3, the JANET equations; the section
is not checked against the paper's text, which could not be read here, and its equation numbers
are not cited: equation numbers not verified):

    s  = U_f h_prev + W_f x + b_f
    c~ = tanh(U_c h_prev + W_c x + b_c)
    c  = sigmoid(s) * c_prev + (1 - sigmoid(s - beta)) * c~
    h  = c

beta = 1, a fixed constant (their choice; the option ``beta`` changes the constant, it is never
learned: a learnable beta, as one public cell library has it, is not the paper's cell; the first
author confirms, JosvanderWesthuizen/janet issue 1, that their code's sigmoid(1 - s)
(aux_code/rnn_cells.py: new_c = c sigmoid(f) + sigmoid(1 - f) tanh(j), new_h = new_c) is 1 -
sigmoid(s - 1), that subtracting 1 worked best of the values tried, and that a revised arXiv version
states it). Their forget bias is chrono-initialised, b_f = log(u), u ~ U[1, T_max - 1] (Tallec &
Ollivier 2018; the authors' code draws u from U[1, T_max) instead): the preset
conf/variant/janet.yaml sets ``bias_initializer: chrono`` with T_max = the task length, as
conf/variant/lstm_chrono.yaml does for the LSTM; `variants.build("janet", ...)` alone keeps torch's
bias init. Blocks f, c; b_ih + b_hh is the bias (torch's double-bias layout), so parameters per
layer are 2 (H D + H^2 + 2 H). Backend `bptt`: `variants.backends.bptt.janet`.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor

from variants.cell import Carry, Cell


class JANETCell(Cell):
    """JANET (van der Westhuizen & Lasenby 2018): one forget gate, h = c; see module docstring."""

    name = "janet"
    paper = ("van der Westhuizen & Lasenby 2018, The unreasonable effectiveness of the forget "
             "gate (Sec. 3) (equation numbers not verified)")
    paper_equations = ("s = W_f x + U_f h + b_f; c = sigmoid(s) c_prev + (1 - sigmoid(s - beta)) "
                       "tanh(W_c x + U_c h + b_c); h = c; beta = 1 (fixed)")
    blocks = ("f", "c")
    state_names = ("h",)
    options = {"beta": 1.0}
    gates = ("f", "i")  # f = sigmoid(s) keeps c_prev; i = 1 - sigmoid(s - beta) admits c~
    candidates = ("g",)  # c~
    keep_gate = "f"

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        beta = self.beta
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise ValueError(f"beta={beta!r} is not valid; accepted: a real number (the paper: 1)")
        self.beta = float(beta)

    def forget_bias_blocks(self, chrono: bool = False) -> dict[str, float]:
        """Chrono / forget_bias write b_f (block f); JANET has no input gate to set to -b_f."""
        return {"f": 1.0}

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        s, u = (xp_t + hp_t).chunk(2, 1)
        f = torch.sigmoid(s)
        i = 1.0 - torch.sigmoid(s - self.beta)
        g = torch.tanh(u)
        self.record_gates(f=f, i=i, g=g)
        return (torch.addcmul(f * carry[0], i, g),)

    # ---- fast path -----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.janet import JANETKernel

        return JANETKernel(self.beta)
