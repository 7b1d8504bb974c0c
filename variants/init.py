"""Weight and bias initializers for the ``*_initializer``, ``forget_bias`` and chrono options.

- ``torch``: uniform(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (torch.nn.RNN/LSTM/GRU).
- ``glorot_uniform``: Keras's default kernel init on the whole stacked matrix:
  uniform(-a, a), a = sqrt(6 / (fan_in + G*H)) (Glorot & Bengio 2010).
- ``orthogonal``: each H-row gate block separately orthogonal (Saxe et al. 2014), so each gate's
  recurrent matrix R_k satisfies R_k^T R_k = I. (Keras makes the whole (H, G*H) matrix
  orthogonal instead; per block is the common research practice and keeps every gate's R a
  rotation.)
- ``identity``: each H-row gate block is the identity (``torch.nn.init.eye_``; ones on the
  diagonal of a non-square block). As ``recurrent_initializer`` with ReLU and zero biases it is
  the IRNN of Le, Jaitly & Hinton 2015 ("A simple way to initialize recurrent networks of
  rectified linear units"): R = I, so h_t = relu(W x_t + h_{t-1}) starts as an accumulator.
- ``zeros``.
- ``chrono`` (biases only; Tallec & Ollivier 2018, "Can recurrent neural networks warp time?"):
  b_f = log(u), u ~ U[1, T_max - 1] per unit, b_i = -b_f, other biases 0; written into ``bias_ih``
  with ``bias_hh`` zero on those blocks, so the sum is the chrono value.
- ``forget_bias`` (Jozefowicz et al. 2015 use 1.0): after init, ``bias_ih[f] = forget_bias`` and
  ``bias_hh[f] = 0``, so the effective forget bias is exactly ``forget_bias``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

WEIGHT_INITIALIZERS: tuple[str, ...] = (
    "torch", "glorot_uniform", "orthogonal", "identity", "zeros",
)
BIAS_INITIALIZERS: tuple[str, ...] = ("torch", "zeros", "chrono")


@torch.no_grad()
def init_weight(tensor: Tensor, scheme: str, hidden_size: int,
                generator: torch.Generator | None) -> None:
    """Initialise a stacked (G*H, fan_in) weight in place with `scheme`."""
    if scheme == "torch":
        bound = 1.0 / math.sqrt(hidden_size)
        tensor.uniform_(-bound, bound, generator=generator)
    elif scheme == "glorot_uniform":
        torch.nn.init.xavier_uniform_(tensor, generator=generator)
    elif scheme == "orthogonal":
        for block in tensor.split(hidden_size, dim=0):
            torch.nn.init.orthogonal_(block, generator=generator)
    elif scheme == "identity":
        for block in tensor.split(hidden_size, dim=0):
            torch.nn.init.eye_(block)
    elif scheme == "zeros":
        tensor.zero_()
    else:
        raise ValueError(f"initializer {scheme!r} is not valid; accepted: "
                         f"{', '.join(WEIGHT_INITIALIZERS)}")


@torch.no_grad()
def init_biases(bias_ih: Tensor, bias_hh: Tensor, scheme: str, blocks: tuple[str, ...],
                hidden_size: int, generator: torch.Generator | None,
                chrono_signs: dict[str, float], chrono_t_max: float | None) -> None:
    """Initialise both bias vectors in place; `chrono_signs` maps block -> sign of log(u)."""
    if scheme == "torch":
        bound = 1.0 / math.sqrt(hidden_size)
        bias_ih.uniform_(-bound, bound, generator=generator)
        bias_hh.uniform_(-bound, bound, generator=generator)
        return
    bias_ih.zero_()
    bias_hh.zero_()
    if scheme == "zeros":
        return
    if scheme != "chrono":
        raise ValueError(f"bias_initializer={scheme!r} is not valid; accepted: "
                         f"{', '.join(BIAS_INITIALIZERS)}")
    assert chrono_t_max is not None  # checked by the option parser
    u = torch.empty(hidden_size, dtype=bias_ih.dtype, device=bias_ih.device)
    if generator is not None and generator.device != u.device:
        u = u.to(generator.device)
    u.uniform_(1.0, chrono_t_max - 1.0, generator=generator)
    log_u = u.log().to(bias_ih.device)
    for name, sign in chrono_signs.items():
        k = blocks.index(name)
        bias_ih[k * hidden_size:(k + 1) * hidden_size] = sign * log_u


@torch.no_grad()
def set_forget_bias(bias_ih: Tensor, bias_hh: Tensor, blocks: tuple[str, ...], hidden_size: int,
                    signs: dict[str, float], value: float) -> None:
    """Make b_ih + b_hh = sign * value on each block in `signs` (Jozefowicz et al. 2015)."""
    for name, sign in signs.items():
        k = blocks.index(name)
        bias_ih[k * hidden_size:(k + 1) * hidden_size] = sign * value
        bias_hh[k * hidden_size:(k + 1) * hidden_size] = 0.0
