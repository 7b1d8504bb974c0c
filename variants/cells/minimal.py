"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201).

The gates see the input only, so the recurrence is diagonal-linear in h,
``h_t = a_t * h_{t-1} + b_t``, and a parallel scan over time can train it (`variants.backends.scan`;
the reference engine runs the same step one t at a time).

Citations (checked for issue 28): of the paper's own text only its opening could be read (abstract
and table of contents: Sec. 3 is "Methodology"); the subsection and appendix numbers below are as
third-party code cites them for arXiv v1 (lucidrains/minGRU-pytorch: g in App. B.3, the log-space
minGRU in B.3.1; a minLSTM port: the normalisation in Sec. 3.2.3, minLSTM in 3.2.4), not checked
against the paper, and its equation numbers are not cited (equation numbers not verified).

minGRU (Sec. 3.1; the GRU with its gates' h-dependence dropped, Sec. 3.1.1, and tanh dropped from
the candidate, Sec. 3.1.2)::

    z_t = sigmoid(W_z x_t + b_z),   h~_t = g(W_h x_t + b_h)
    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t                       (a = 1 - z, b = z h~)

minLSTM (Sec. 3.2; no output gate, and f, i normalised so that the scale of h does not grow with
t, Sec. 3.2.3)::

    f_t = sigmoid(W_f x_t + b_f),   i_t = sigmoid(W_i x_t + b_i),   h~_t = g(W_h x_t + b_h)
    f'_t = f_t / (f_t + i_t),       i'_t = i_t / (f_t + i_t)
    h_t = f'_t * h_{t-1} + i'_t * h~_t                            (a = f', b = i' h~)

``g`` is the activation of the paper's log-space version (App. B.3 of v1), the one they train:
g(v) = v + 0.5 for v >= 0, sigmoid(v) for v < 0 (continuous, positive, so h stays positive from a
positive h_0). ``candidate_activation="identity"`` gives the linear candidate of Sec. 3.1.2 /
3.2.2 instead (h~ = W_h x + b_h, the paper's non-log-space form); the scan serves both (it does
not need b > 0 or h_0 > 0).

Parameters per layer: weight_ih (G*H, D) and bias_ih (G*H,) only -- no recurrent matrix and one
bias per gate (`Cell.recurrent_matrix` False): minGRU 2(HD + H), minLSTM 3(HD + H).
Initialisation: the paper's code uses ``nn.Linear`` layers, so with the layer's default
initializers ("torch") W and b are drawn from U(-1/sqrt(D), 1/sqrt(D)), nn.Linear's rule with the
layer's input size D (torch's RNN rule would use 1/sqrt(H)). Other initializers are honoured.

Recorded gates (`variants.recording`): minGRU ``z`` and its keep gate ``keep`` = 1 - z (the factor
on h_{t-1}, so the retention of h is the product of ``keep``); minLSTM the raw ``f``, ``i`` and
the normalised ``f_norm`` (= f', the keep gate), ``i_norm``; candidate ``h_tilde``.
These cells have no recurrent matmul, so recurrent dropout (which masks h_{t-1} before it) has
nothing to act on: the step refuses it (ValueError) rather than ignore it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from variants.cell import Carry, Cell, ScanCoefficients, StepWeights

CANDIDATE_ACTIVATIONS = ("g", "identity")


def g(v: Tensor) -> Tensor:
    """Feng et al.'s log-space activation: v + 0.5 for v >= 0, sigmoid(v) for v < 0, written as
    relu(v) + sigmoid(min(v, 0)) (the same values; 3x faster than torch.where with its backward)."""
    return torch.relu(v) + torch.sigmoid(v.clamp(max=0.0))


class MinimalCell(Cell):
    """Shared structure of minGRU and minLSTM: h_t = a_t h_{t-1} + b_t with (a, b) from x_t."""

    state_names = ("h",)
    recurrent_matrix = False
    options = {"candidate_activation": "g"}
    math_members = (*Cell.math_members, "coefficients", "candidate")
    candidates = ("h_tilde",)

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        if self.candidate_activation not in CANDIDATE_ACTIVATIONS:
            raise ValueError(f"candidate_activation={self.candidate_activation!r} is not valid; "
                             f"accepted: {', '.join(CANDIDATE_ACTIVATIONS)}")

    def candidate(self, v: Tensor) -> Tensor:
        """h~ from its pre-activation: g (log-space form, default) or the identity."""
        return g(v) if self.candidate_activation == "g" else v

    def coefficients(self, xp: Tensor, extra: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(a, b) of h = a h_prev + b from the input projection (any leading shape)."""
        raise NotImplementedError

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        if h_in is not carry[0]:
            raise ValueError(f"variant {self.name!r} has no recurrent matrix, so "
                             "recurrent_dropout has nothing to mask; accepted: recurrent_dropout=0")
        a, b = self.coefficients(xp_t, weights.extra)
        return (torch.addcmul(b, a, carry[0]),)

    def init_parameters(self, weights, options, generator, layer, num_layers) -> None:
        """nn.Linear's rule, U(-1/sqrt(D), 1/sqrt(D)) with D = this layer's input size, where the
        initializers are at their default ("torch"), as the paper's nn.Linear layers."""
        bound = 1.0 / math.sqrt(weights.weight_ih.shape[1])
        if options.kernel_initializer == "torch":
            weights.weight_ih.uniform_(-bound, bound, generator=generator)
        if weights.bias_ih is not None and options.bias_initializer == "torch" \
                and options.forget_bias is None:
            weights.bias_ih.uniform_(-bound, bound, generator=generator)


class MinGRUCell(MinimalCell):
    """minGRU (Feng et al. 2024, Sec. 3.1): z = s(W_z x), h = (1 - z) h_prev + z g(W_h x)."""

    name = "mingru"
    paper = ("Feng et al. 2024, Were RNNs All We Needed? (Sec. 3.1; g: App. B.3 of v1) "
             "(equation numbers not verified)")
    paper_equations = ("z = s(W_z x + b_z); h = (1 - z) h_prev + z g(W_h x + b_h); "
                       "g(v) = v + 0.5 (v >= 0), s(v) (v < 0)")
    blocks = ("z", "h")
    gates = ("z", "keep")
    keep_gate = "keep"

    def coefficients(self, xp: Tensor, extra: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        vz, vh = xp.chunk(2, -1)
        z = torch.sigmoid(vz)
        keep = 1.0 - z
        h_tilde = self.candidate(vh)
        if self._gate_recorder is not None:
            self.record_gates(z=z, keep=keep, h_tilde=h_tilde)
        return keep, z * h_tilde

    # ---- fast path: the scan runs `coefficients` above, vectorised over all steps --------------
    def scan_coefficients(self) -> ScanCoefficients:
        return self.coefficients


class MinLSTMCell(MinimalCell):
    """minLSTM (Feng et al. 2024, Sec. 3.2): f' = f / (f + i), i' = i / (f + i),
    h = f' h_prev + i' g(W_h x)."""

    name = "minlstm"
    paper = ("Feng et al. 2024, Were RNNs All We Needed? (Sec. 3.2; g: App. B.3 of v1) "
             "(equation numbers not verified)")
    paper_equations = ("f = s(W_f x + b_f); i = s(W_i x + b_i); f' = f / (f + i); "
                       "i' = i / (f + i); h = f' h_prev + i' g(W_h x + b_h)")
    blocks = ("f", "i", "h")
    gates = ("f", "i", "f_norm", "i_norm")
    keep_gate = "f_norm"

    def coefficients(self, xp: Tensor, extra: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        vf, vi, vh = xp.chunk(3, -1)
        f = torch.sigmoid(vf)
        i = torch.sigmoid(vi)
        total = f + i
        f_norm = f / total
        i_norm = i / total
        h_tilde = self.candidate(vh)
        if self._gate_recorder is not None:
            self.record_gates(f=f, i=i, f_norm=f_norm, i_norm=i_norm, h_tilde=h_tilde)
        return f_norm, i_norm * h_tilde

    # ---- fast path: the scan runs `coefficients` above, vectorised over all steps --------------
    def scan_coefficients(self) -> ScanCoefficients:
        return self.coefficients
