"""UR-LSTM: the LSTM with a refine gate and uniform gate initialisation (Gu, Gulcehre, Paine,
Hoffman & Pascanu 2020, "Improving the Gating Mechanism of Recurrent Neural Networks", ICML,
arXiv 1910.09890; Sec. 3.1 UGI, Sec. 3.2 the refine gate, Appendix A the UR-LSTM pseudo-code):

    f~, r~, u~, o~ = W x + R h_prev + b          (blocks f, r, u, o)
    f = sigmoid(f~ + b_f)                         (forget gate, shifted by the UGI bias)
    r = sigmoid(r~ - b_f)                         (refine gate, the SAME b_f subtracted)
    g = r (1 - (1 - f)^2) + (1 - r) f^2           (effective gate)
    c = g c_prev + (1 - g) tanh(u~)
    h = sigmoid(o~) tanh(c)

b_f is one extra vector per layer and direction (``bias_forget``), shared by f and r as in their
pseudo-code, beside the affine maps' own biases (torch's double-bias layout, initialised as
torch does). Uniform gate initialisation (Sec. 3.1): b_f = -log(1/u - 1), u ~ U[1/H, 1 - 1/H]
per unit, so the forget gates' activations at init are spread uniformly over (1/H, 1 - 1/H).
tanh is applied ONCE to the cell input u~, as the paper writes it; the public PyTorch port
r0mainK/ur-lstm applied it twice (tanh(tanh(u~))) in its src/models/ur_lstm.py and in
ur_lstm/ur_lstm.py at commit ce78715, which is not the paper's cell (a later stored version of
ur_lstm/ur_lstm.py, commit 0fdd2e4, applies it once).
Parameters per layer: 4 (H D + H^2 + 2 H) + H. Backend `bptt`: `variants.backends.bptt.urlstm`.

Citations (checked for issue 28): the paper's own text could not be read here beyond its abstract,
so the sections above are not checked against it and no equation number is cited
(equation numbers not verified); a third-party summary reproduces the caption of their Fig. 1,
where the effective gate g "is then used in place of f_t in the state update (5)", i.e. c's
update is their eq. (5).
"""

from __future__ import annotations

import torch
from torch import Tensor

from variants.cell import Carry, Cell


class URLSTMCell(Cell):
    """UR-LSTM (Gu et al. 2020): refine gate + UGI forget bias; see module docstring."""

    name = "urlstm"
    paper = ("Gu et al. 2020, Improving the Gating Mechanism of Recurrent Neural Networks "
             "(Sec. 3, App. A) (equation numbers not verified)")
    paper_equations = ("f = sigmoid(f~ + b_f); r = sigmoid(r~ - b_f); g = r (1 - (1 - f)^2) + (1 "
                       "- r) f^2; c = g c_prev + (1 - g) tanh(u~); h = sigmoid(o~) tanh(c); b_f = "
                       "-log(1/u - 1), u ~ U[1/H, 1 - 1/H]")
    blocks = ("f", "r", "u", "o")
    state_names = ("h", "c")
    gates = ("f", "r", "g", "o")
    candidates = ("u",)  # tanh(u~)
    keep_gate = "g"  # the effective gate multiplies c_prev

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        return {"bias_forget": (self.hidden_size,)}

    def init_extra(self, name: str, tensor: Tensor, generator: torch.Generator | None) -> None:
        """UGI (Sec. 3.1): b_f = -log(1/u - 1) = logit(u), u ~ U[1/H, 1 - 1/H] per unit; at
        H = 1 that interval is empty and u = 1/2, its midpoint (b_f = 0)."""
        low = min(1.0 / self.hidden_size, 0.5)
        u = torch.empty(tensor.shape, dtype=tensor.dtype,
                        device=tensor.device if generator is None else generator.device)
        u.uniform_(low, 1.0 - low, generator=generator)
        tensor.copy_(-torch.log(1.0 / u - 1.0))

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        bias = extra["bias_forget"]
        pre_f, pre_r, pre_u, pre_o = (xp_t + hp_t).chunk(4, 1)
        f = torch.sigmoid(pre_f + bias)
        r = torch.sigmoid(pre_r - bias)
        f2 = f * f
        g = torch.addcmul(f2, r, 2.0 * f - 2.0 * f2)  # r(1-(1-f)^2) + (1-r)f^2 = f^2 + r(2f-2f^2)
        u = torch.tanh(pre_u)
        c = torch.addcmul(u, g, carry[1] - u)  # g c_prev + (1 - g) u
        o = torch.sigmoid(pre_o)
        self.record_gates(f=f, r=r, g=g, o=o, u=u)
        return (o * torch.tanh(c), c)

    # ---- fast path -----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.urlstm import URLSTMKernel

        return URLSTMKernel()

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        return (weights.weight_hh, weights.extra["bias_forget"])
