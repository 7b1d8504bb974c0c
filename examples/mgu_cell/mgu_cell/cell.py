"""The MGU with its gate inverted: f keeps the old state, h = f * h_prev + (1 - f) * h~.

Zhou et al. 2016's MGU mixes h = (1 - f) * h_prev + f * h~. Here the same gate f also reads the
recurrence (h~ = tanh(W_h x + U_h (f * h_prev) + b_h)), so a unit that keeps its state (f near 1)
also lets its candidate see it. A step() cell: see gatebench's docs/cells-step-example.md.
"""

import torch

from variants.cells.mgu import MGUCell


class MGUKeepCell(MGUCell):
    """MGU with an inverted keep gate: h = f * h_prev + (1 - f) * h~."""

    name = "mgu_keep"        # the registry line
    gates = ("f",)           # f itself multiplies h_prev now
    keep_gate = "f"

    # MGUCell's math is in step() (math_in = "step"): a subclass overrides step(), not pointwise()
    def step(self, xp_t, h_in, carry, weights):
        h_prev = carry[0]
        xf, xn = xp_t.chunk(2, 1)                                       # W_f x + b_f, W_h x + b_h
        f = torch.sigmoid(torch.addmm(xf, h_in, weights.weight_hh_t))  # + U_f h_prev
        n = torch.tanh(torch.addmm(xn, f * h_in, weights.extra["weight_hh_n_t"]))  # U_h (f h)
        self.record_gates(f=f, n=n)
        return (torch.addcmul(n, f, h_prev - n),)                       # f h_prev + (1 - f) n
