"""IndRNN: the independently recurrent network (Li, Li, Cook, Zhu & Gao 2018, "Independently
Recurrent Neural Network (IndRNN): Building A Longer and Deeper RNN", CVPR, arXiv 1803.04831):

    h = relu(W x + u * h_prev + b)           (* elementwise, u a vector)

Citations (checked for issue 28): the paper's own text could not be read here beyond its abstract
and the opening of the journal version's introduction (where "(1)" is the usual RNN
sigma(W x + U h + b)); the IndRNN's own equation number and the section of the constraint
(3.1) are not checked against it (equation numbers not verified).

Each unit sees only its own past, through one recurrent weight u_n. Parameters per layer:
``weight_ih`` (H, D), ``bias_ih`` (H,) and ``weight_diag_hh`` (H,), the vector u: H (D + 2) in
all (no ``weight_hh`` matrix and no ``bias_hh``: `Cell.recurrent_matrix` is False).

The constraint (Sec. 3.1): a unit's gradient over T steps scales as u_n^T, so |u_n| is kept at
most u_max = 2^(1/T) (option ``recurrent_steps=T``, what conf/variant/indrnn.yaml ties to the
task length) or at a given ``recurrent_max``; with neither, u_max = 1. It is enforced as the
authors' code does it, by clipping u to [-u_max, u_max] after every optimizer step
(`variants.constraints`: a projection after each torch optimizer ``step()``), not by
reparametrising u, so the forward pass is the paper's equation on the stored u for every engine.

Initialisation of u (``recurrent_initializer="torch"``, the default, means the authors' rule, as
in their adding-problem code, Sunnydreamrain/IndRNN_Theano_Lasagne adding/adding.py): every
layer but the last u ~ U(0, u_max); the last layer u ~ U(2^(-1/T), u_max) when T is given (so its
units keep their input over the T steps), U(0, u_max) otherwise. ``identity`` sets u = 1 (the
IRNN-like start), ``zeros`` u = 0; other initializers do not apply to a vector. The input weights
keep the layer's ``kernel_initializer`` (the authors draw N(0, 0.001^2) for the adding problem).
Options: ``nonlinearity`` relu (the paper's) or tanh. The bound and the u init above follow the
authors' code for relu (README: U_bound = MAG^(1/T), MAG "2 or 10 or others", [-1, 1] for very
long sequences); for tanh their adding.py uses U_bound = (MAG / 0.9^(T/10))^(1/T) and
u ~ U(-U_bound, U_bound) in both layers, which this cell does not (tanh keeps the relu rule).
Backend `bptt`: `variants.backends.bptt.indrnn`.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor

from variants.activations import ACTIVATIONS, get_activation
from variants.cell import Carry, Cell, StepWeights
from variants.constraints import bound_after_step

U_INITIALIZERS = ("torch", "identity", "zeros")


class IndRNNCell(Cell):
    """IndRNN (Li et al. 2018): h = act(W x + u * h_prev + b); see module docstring."""

    name = "indrnn"
    paper = ("Li et al. 2018, Independently Recurrent Neural Network (IndRNN) (Sec. 3.1) "
             "(equation numbers not verified)")
    paper_equations = ("h = relu(W x + u * h_prev + b), u a vector with |u| <= 2^(1/T) (clipped "
                       "after each optimizer step)")
    blocks = ("h",)
    state_names = ("h",)
    recurrent_matrix = False
    options = {"nonlinearity": "relu", "recurrent_max": None, "recurrent_steps": None}
    math_members = (*Cell.math_members, "act")

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        get_activation("nonlinearity", self.nonlinearity, ("relu", "tanh"))
        steps, limit = self.recurrent_steps, self.recurrent_max
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, numbers.Integral)
                                  or steps < 1):
            raise ValueError(f"recurrent_steps={steps!r} is not valid; accepted: an integer >= 1 "
                             "(the sequence length T: |u| <= 2^(1/T)) or None")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Real)
                                  or not limit > 0):
            raise ValueError(f"recurrent_max={limit!r} is not valid; accepted: a number > 0 or "
                             "None")
        if steps is not None and limit is not None:
            raise ValueError("recurrent_max and recurrent_steps both set the bound on |u|; "
                             "give one")

    @property
    def u_max(self) -> float:
        """The bound on |u|: recurrent_max, else 2^(1/T) with T = recurrent_steps, else 1."""
        if self.recurrent_max is not None:
            return float(self.recurrent_max)
        if self.recurrent_steps is not None:
            return 2.0 ** (1.0 / self.recurrent_steps)
        return 1.0

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        return {"weight_diag_hh": (self.hidden_size,)}

    def init_parameters(self, weights: Any, options: Any, generator: torch.Generator | None,
                        layer: int, num_layers: int) -> None:
        """u by the authors' rule (module docstring), then bounded after every optimizer step."""
        u = weights.extra["weight_diag_hh"]
        scheme = options.recurrent_initializer
        if scheme not in U_INITIALIZERS:
            raise ValueError(f"recurrent_initializer={scheme!r} does not apply to indrnn's vector "
                             f"u; accepted: {', '.join(U_INITIALIZERS)}")
        if scheme == "torch":
            last = layer == num_layers - 1 and self.recurrent_steps is not None
            low = 2.0 ** (-1.0 / self.recurrent_steps) if last else 0.0
            draw = torch.empty(u.shape, dtype=u.dtype,
                               device=u.device if generator is None else generator.device)
            draw.uniform_(low, self.u_max, generator=generator)
            u.copy_(draw)
        else:
            u.fill_(1.0 if scheme == "identity" else 0.0)
        bound_after_step(u, self.u_max)

    def act(self, x: Tensor) -> Tensor:
        """The nonlinearity, looked up by its option's name."""
        return ACTIVATIONS[self.nonlinearity](x)

    def recurrent_projection(self, h_in: Tensor, carry: Carry, weights: StepWeights) -> Tensor:
        """u * h_prev: the diagonal recurrence (no matrix)."""
        return h_in * weights.extra["weight_diag_hh"]

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        return (self.act(xp_t + hp_t),)

    # ---- fast path -----------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.indrnn import IndRNNKernel

        return IndRNNKernel(self.nonlinearity)

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        return (weights.extra["weight_diag_hh"],)
