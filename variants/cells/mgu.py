"""MGU: the minimal gated unit (Zhou, Wu, Zhang & Zhou 2016, "Minimal Gated Unit for Recurrent
Neural Networks", Int. J. Automation and Computing; arXiv 1603.09420, Sec. 3; the paper's text
could not be read here, so the section is not checked and equation numbers are not cited:
equation numbers not verified. Its prose, as google/flax issue 4608 quotes it, says the same as
the equations below: 1 - f keeps h_prev, f * h_prev enters h~, and f weights h~):

    f  = sigmoid(W_f x + U_f h_prev + b_f)
    h~ = tanh(W_h x + U_h (f * h_prev) + b_h)
    h  = (1 - f) * h_prev + f * h~

One gate does the GRU's two jobs: it resets the recurrence (f * h_prev inside h~) and mixes old
and new. Its recurrence reads f * h_prev, not h_prev R^T, so its math lives in ``step()``
(``math_in = "step"``): docs/cells-step-example.md walks through it. Blocks f, n (n = h~); all
biases add linearly, so b_hh is folded into the input projection. Parameters per layer:
2 (H D + H^2 + 2 H). Backend `bptt`: `variants.backends.bptt.mgu`.

Recorded: f, its complement ``keep = 1 - f`` (the gate that multiplies h_prev: the cell's
``keep_gate``, whose product over steps is the memory retention) and the candidate n.
"""

from __future__ import annotations

import torch
from torch import Tensor

from variants.cell import Carry, Cell, StepWeights


class MGUCell(Cell):
    """Minimal gated unit (Zhou et al. 2016); see module docstring."""

    name = "mgu"
    paper = ("Zhou et al. 2016, Minimal Gated Unit for Recurrent Neural Networks (Sec. 3) "
             "(equation numbers not verified)")
    paper_equations = ("f = sigmoid(W_f x + U_f h + b_f); n = tanh(W_h x + U_h (f * h) + b_h); h "
                       "= (1 - f) h_prev + f n")
    blocks = ("f", "n")
    state_names = ("h",)
    math_in = "step"  # U_h reads f * h_prev: the recurrence is not h_prev R^T
    gates = ("f", "keep")
    candidates = ("n",)
    keep_gate = "keep"

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        """Once per sequence: split R^T (H, 2H) into U_f^T and U_h^T (the latter as an extra)."""
        f_t, n_t = weights.weight_hh_t.split(self.hidden_size, dim=1)
        return StepWeights(f_t, weights.bias_hh, {**weights.extra, "weight_hh_n_t": n_t})

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        h_prev = carry[0]
        xf, xn = xp_t.chunk(2, 1)
        f = torch.sigmoid(torch.addmm(xf, h_in, weights.weight_hh_t))
        n = torch.tanh(torch.addmm(xn, f * h_in, weights.extra["weight_hh_n_t"]))
        if self._gate_recorder is not None:
            self.record_gates(f=f, keep=1.0 - f, n=n)
        return (torch.addcmul(h_prev, f, n - h_prev),)

    # ---- fast path -----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.mgu import MGUKernel

        return MGUKernel()
