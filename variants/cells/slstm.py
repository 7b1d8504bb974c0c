"""sLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", arXiv 2405.04517, Sec. 2.2).

Pre-activations (one matmul of the input, one head-wise block-diagonal recurrent matmul, one bias):
``[i~, f~, z~, o~] = W x_t + R h_{t-1} + b``. Then (the paper's eqs. for c, n, h, z, i, f, o and its
stabiliser m; NX-AI/xlstm ``blocks/slstm/src/vanilla/slstm.py`` computes the same)::

    log f_t = log sigmoid(f~)          (forget_gate="sigmoid", default)  or  f~  ("exp")
    m_t = max(log f_t + m_{t-1}, i~)   (the stabiliser; m_t = i~ where n_{t-1} = 0, i.e. at the
                                        first step from a zero state, as the reference code does)
    i'_t = exp(i~ - m_t),   f'_t = exp(log f_t + m_{t-1} - m_t)       (both in (0, 1])
    z_t = tanh(z~),  o_t = sigmoid(o~)
    c_t = f'_t c_{t-1} + i'_t z_t,   n_t = f'_t n_{t-1} + i'_t,   h_t = o_t c_t / n_t

The state is ``(h, c, n, m)`` (all four returned; a given state is taken as is, so m_0 matters
with c_0, n_0 != 0). c and n are the paper's c and n scaled by exp(-m_t): h is the same for any m,
m only keeps exp from overflowing.

Citations (checked for issue 28): the paper's own text could not be read here beyond its abstract,
so "Sec. 2.2" (the sLSTM) is not checked against it and its equation numbers are not cited
(equation numbers not verified). A quotation of the paper's App. A.2 (kyegomez/xLSTM issue 2)
says the sLSTM's hidden-state activation is the identity and the cell input's is tanh, as here
(h = o c / n, z = tanh(z~)).

Heads (``heads``, default 1): R is block-diagonal, one (4 dh x dh) block per head of
dh = H / heads units, stored as the extra parameter ``weight_hh`` (4H, dh): rows in gate order
i, f, z, o, within a gate head by head (for heads = 1 it is an ordinary (4H, H) recurrent
matrix). Parameters per layer: W (4H, D), R (4H, H/heads), b (4H,): 4(HD + H^2/heads + H); there
is no second bias (`Cell.recurrent_matrix` is False: no weight_hh/bias_hh of the stacked form).

Initialisation (with the layer's initializers at their defaults, "torch"): the paper's text gives
no scheme for these weights, so the authors' reference code (NX-AI/xlstm, sLSTMCellConfig and
sLSTMLayer.reset_parameters) is followed: R = 0 (``recurrent_weight_init="zeros"``); b = 0 but
the forget gate's "powerlaw_blockdependent" bias, per head unit k of dh:
b_f[k] = 5 - 12 (k / (dh - 1))^(0.3 + 1.3 l / (L - 1)) for layer l of L (5 .. -7, i.e. timescales
from ~150 steps to none); W ~ N(0, 2 / (5 D)) ("small_init", Nguyen & Salazar 2019). Where this
preset departs from the reference code: heads = 1 by default (the code's default is 4, its
input projection is head-wise and preceded by a causal convolution: those belong to the xLSTM
block, not to the cell).

Recorded gates: ``i`` = i', ``f`` = f' (the stabilised gates the recurrence multiplies, both in
(0, 1]; ``keep_gate`` is ``f``), ``o``; candidate ``z``. Retention, the product of f', is the
share of the stored (c, n) that survives, so it stays in [0, 1] also with forget_gate="exp",
whose raw gate exp(f~) can exceed 1: a raw f > 1 shows as f' = 1 with m growing by log f.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import logsigmoid

from variants.cell import Carry, Cell, StepWeights

FORGET_GATES = ("sigmoid", "exp")


def block_diagonal(weight: Tensor, heads: int) -> Tensor:
    """The dense (4H, H) recurrent matrix of the head-wise weight (4H, H/heads)."""
    rows, head = weight.shape
    if heads == 1:
        return weight
    blocks = weight.view(4, heads, head, head)
    return torch.cat([torch.block_diag(*blocks[k].unbind(0)) for k in range(4)])


def head_blocks(dense: Tensor, heads: int) -> Tensor:
    """Inverse of `block_diagonal`: the head-wise (4H, H/heads) blocks of a dense (4H, H)."""
    if heads == 1:
        return dense
    hidden = dense.shape[1]
    head = hidden // heads
    grid = dense.reshape(4, heads, head, heads, head)
    return torch.diagonal(grid, dim1=1, dim2=3).permute(0, 3, 1, 2).reshape(4 * hidden, head)


def powerlaw_forget_bias(hidden: int, heads: int, layer: int, num_layers: int) -> Tensor:
    """The reference code's "powerlaw_blockdependent" forget-gate bias (module docstring)."""
    head = hidden // heads
    ratio = layer / (num_layers - 1) if num_layers > 1 else 0.0
    k = torch.arange(head, dtype=torch.float64) / max(head - 1, 1)
    return (5.0 - 12.0 * k ** (0.3 + 1.3 * ratio)).repeat(heads)


class SLSTMCell(Cell):
    """sLSTM with exponential input gate, stabiliser m and normaliser n (module docstring)."""

    name = "slstm"
    paper = ("Beck et al. 2024, xLSTM: Extended Long Short-Term Memory (Sec. 2.2; App. A.2) "
             "(equation numbers not verified)")
    paper_equations = ("[i~, f~, z~, o~] = W x + R h_prev + b (R block-diagonal per head); "
                       "log f = log s(f~) (or f~); m = max(log f + m_prev, i~); "
                       "i' = exp(i~ - m); f' = exp(log f + m_prev - m); "
                       "c = f' c_prev + i' tanh(z~); n = f' n_prev + i'; h = s(o~) c / n")
    blocks = ("i", "f", "z", "o")
    state_names = ("h", "c", "n", "m")
    recurrent_matrix = False
    options = {"heads": 1, "forget_gate": "sigmoid"}
    math_in = "step"
    math_members = (*Cell.math_members, "log_forget")
    gates = ("i", "f", "o")
    candidates = ("z",)
    keep_gate = "f"

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        heads = self.heads
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 \
                or hidden_size % heads:
            raise ValueError(f"heads={heads!r} is not valid; accepted: an integer >= 1 that "
                             f"divides hidden_size={hidden_size}")
        if self.forget_gate not in FORGET_GATES:
            raise ValueError(f"forget_gate={self.forget_gate!r} is not valid; "
                             f"accepted: {', '.join(FORGET_GATES)}")

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        return {"weight_hh": (4 * self.hidden_size, self.hidden_size // self.heads)}

    def init_extra(self, name: str, tensor: Tensor, generator: torch.Generator | None) -> None:
        tensor.zero_()  # R = 0 (the reference code's recurrent_weight_init="zeros")

    def init_parameters(self, weights, options, generator, layer, num_layers) -> None:
        """W ~ N(0, 2/(5D)) and the power-law forget bias where the initializers are "torch"."""
        if options.kernel_initializer == "torch":
            std = math.sqrt(2.0 / (5.0 * weights.weight_ih.shape[1]))
            weights.weight_ih.normal_(0.0, std, generator=generator)
        if options.recurrent_initializer != "torch":
            from variants.init import init_weight

            init_weight(weights.extra["weight_hh"], options.recurrent_initializer,
                        self.hidden_size // self.heads, generator)
        bias = weights.bias_ih
        if bias is not None and options.bias_initializer == "torch" \
                and options.forget_bias is None:
            hidden = self.hidden_size
            bias.zero_()
            bias[hidden:2 * hidden] = powerlaw_forget_bias(hidden, self.heads, layer, num_layers)

    def forget_bias_blocks(self, chrono: bool = False) -> dict[str, float]:
        return {"f": 1.0}

    def initial_carry(self, state: Carry) -> Carry:
        return tuple(state)

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        dense = block_diagonal(weights.extra["weight_hh"], self.heads)
        return weights._replace(weight_hh_t=dense.t())

    def log_forget(self, f_raw: Tensor) -> Tensor:
        """log f from f~: log sigmoid(f~) or f~ itself (``forget_gate``)."""
        return logsigmoid(f_raw) if self.forget_gate == "sigmoid" else f_raw

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        _, c, n, m = carry
        raw = torch.addmm(xp_t, h_in, weights.weight_hh_t)
        i_raw, f_raw, z_raw, o_raw = raw.chunk(4, 1)
        m_f = m + self.log_forget(f_raw)
        m_new = torch.where(n == 0, i_raw, torch.maximum(i_raw, m_f))
        i = torch.exp(i_raw - m_new)
        f = torch.exp(m_f - m_new)
        z = torch.tanh(z_raw)
        o = torch.sigmoid(o_raw)
        c_new = f * c + i * z
        n_new = f * n + i
        h = o * c_new / n_new
        self.record_gates(i=i, f=f, o=o, z=z)
        return (h, c_new, n_new, m_new)

    # ---- fast path -------------------------------------------------------------------------------
    def bptt_kernel(self):
        from variants.backends.bptt.slstm import SLSTMKernel

        return SLSTMKernel(self.heads, self.forget_gate)

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        return (weights.extra["weight_hh"],)
