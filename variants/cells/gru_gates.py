"""Dey & Salem 2017's GRU gate ablations GRU1, GRU2, GRU3 ("Gate-Variants of Gated Recurrent Unit
(GRU) Neural Networks", MWSCAS; arXiv 1701.05923; the paper's text could not be read here, so
its equation numbers are not cited: equation numbers not verified): the gates drop their input
term,

    GRU1:  z = s(U_z h_prev + b_z),  r = s(U_r h_prev + b_r)          (variant 1)
    GRU2:  z = s(U_z h_prev),        r = s(U_r h_prev)                (variant 2)
    GRU3:  z = s(b_z),               r = s(b_r)                       (variant 3)

and keep the GRU's candidate and mix, in the paper's (Cho et al. 2014) reset-before form:

    n = act(W_n x + b_in + U_n (r * h_prev) + b_hn),   h = (1 - z) * n + z * h_prev

with this project's GRU convention that z keeps the old state (`gru`, `gru_cho`; Dey & Salem
write the mix with z and 1 - z swapped, the same family). They are Greff-style flags on one class
(``gate_recurrent``: U in the gates; ``gate_bias``: b in the gates), the GRU-family analogue of
the LSTM presets nig, nfg, ... in `variants.cells.lstm`; the un-ablated reference is `gru_cho`.

Layout: the blocks are n only (``weight_ih`` (H, D), ``weight_hh`` (H, H) = U_n, ``bias_ih``,
``bias_hh`` (H,) each, as torch's double bias); the gates' own parameters are extras:
``weight_gate_hh`` (2H, H), rows r then z (GRU1, GRU2), initialised by ``recurrent_initializer``
like ``weight_hh``, and ``bias_gate`` (2H,), r then z (GRU1, GRU3), initialised by
``bias_initializer`` (torch or zeros). Parameters per layer: GRU1 3 H^2 + H D + 4 H, GRU2
3 H^2 + H D + 2 H, GRU3 H^2 + H D + 4 H (gru_cho: 3 H^2 + 3 H D + 6 H).

Fast paths: the `gru_cho` kernels (bptt, triton, and torch's op) compute the gates' input term;
this class overrides ``step``, which voids the hooks it inherits (`variants.cell.stale_hook`), and
declares its own `bptt` kernel (`variants.backends.bptt.gru_gates`, tanh/sigmoid only); plain
`gru` and `gru_cho` keep theirs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from variants.cell import Carry, StepWeights
from variants.cells.gru import GRUChoCell
from variants.init import init_weight


class GRUGateAblationCell(GRUChoCell):
    """The reset-before GRU whose gates drop their input term (Dey & Salem 2017); flags below."""

    gate_recurrent = True  # U_z h, U_r h in the gates
    gate_bias = True  # b_z, b_r in the gates
    blocks = ("n",)
    fold_recurrent_bias = True
    gates = ("r", "z")
    candidates = ("n",)
    keep_gate = "z"

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        extra: dict[str, tuple[int, ...]] = {}
        if self.gate_recurrent:
            extra["weight_gate_hh"] = (2 * self.hidden_size, self.hidden_size)
        if self.gate_bias:
            extra["bias_gate"] = (2 * self.hidden_size,)
        return extra

    def init_parameters(self, weights: Any, options: Any, generator: torch.Generator | None,
                        layer: int, num_layers: int) -> None:
        """The gates' U by ``recurrent_initializer`` (init_extra drew torch's rule already), their
        b by ``bias_initializer`` (zeros zeroes it)."""
        extra = weights.extra
        if "weight_gate_hh" in extra and options.recurrent_initializer != "torch":
            init_weight(extra["weight_gate_hh"], options.recurrent_initializer,
                        self.hidden_size, generator)
        if "bias_gate" in extra and options.bias_initializer == "zeros":
            extra["bias_gate"].zero_()

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        extra = dict(weights.extra)
        if self.gate_recurrent:
            extra["weight_gate_hh_t"] = extra["weight_gate_hh"].t()
        return StepWeights(weights.weight_hh_t, weights.bias_hh, extra)

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        h_prev, extra = carry[0], weights.extra
        if self.gate_recurrent and self.gate_bias:
            pre = torch.addmm(extra["bias_gate"], h_in, extra["weight_gate_hh_t"])
        elif self.gate_recurrent:
            pre = torch.mm(h_in, extra["weight_gate_hh_t"])
        else:
            pre = extra["bias_gate"].expand(h_in.shape[0], -1)
        r, z = self.gate(pre).chunk(2, 1)
        n = self.act(torch.addmm(xp_t, r * h_in, weights.weight_hh_t))
        self.record_gates(r=r, z=z, n=n)
        return (torch.addcmul(n, z, h_prev - n),)

    # ---- fast path: its own bptt kernel (the inherited gru_cho kernels are void) --------------
    def bptt_kernel(self):
        if self.activation != "tanh" or self.recurrent_activation != "sigmoid":
            raise ValueError("bptt runs the paper's activations only (activation='tanh', "
                             "recurrent_activation='sigmoid')")
        from variants.backends.bptt.gru_gates import GRUGateKernel

        return GRUGateKernel(self.gate_recurrent, self.gate_bias)

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        tensors = [weights.weight_hh]
        if self.gate_recurrent:
            tensors.append(weights.extra["weight_gate_hh"])
        if self.gate_bias:
            tensors.append(weights.extra["bias_gate"])
        return tuple(tensors)


class GRU1Cell(GRUGateAblationCell):
    """GRU1 (Dey & Salem 2017, variant 1): z, r = s(U h + b)."""

    name = "gru1"
    paper = ("Dey & Salem 2017, Gate-Variants of GRU Neural Networks (GRU1) "
             "(equation numbers not verified)")
    paper_equations = ("z = s(U_z h + b_z); r = s(U_r h + b_r); n = tanh(W_n x + U_n (r * h) + "
                       "b_n); h = (1 - z) n + z h_prev")


class GRU2Cell(GRUGateAblationCell):
    """GRU2 (Dey & Salem 2017, variant 2): z, r = s(U h)."""

    name = "gru2"
    paper = ("Dey & Salem 2017, Gate-Variants of GRU Neural Networks (GRU2) "
             "(equation numbers not verified)")
    paper_equations = ("z = s(U_z h); r = s(U_r h); n = tanh(W_n x + U_n (r * h) + b_n); h = (1 - "
                       "z) n + z h_prev")
    gate_bias = False


class GRU3Cell(GRUGateAblationCell):
    """GRU3 (Dey & Salem 2017, variant 3): z, r = s(b)."""

    name = "gru3"
    paper = ("Dey & Salem 2017, Gate-Variants of GRU Neural Networks (GRU3) "
             "(equation numbers not verified)")
    paper_equations = ("z = s(b_z); r = s(b_r); n = tanh(W_n x + U_n (r * h) + b_n); h = (1 - z) "
                       "n + z h_prev")
    gate_recurrent = False
