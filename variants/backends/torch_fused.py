"""Backend `cudnn`: torch's own fused RNN/LSTM/GRU op (cuDNN on CUDA, oneDNN/ATen on CPU).

Serves only cells whose ``torch_fused()`` names torch's op (`rnn`, `lstm`, `gru`, each with
default activations and no peepholes; `variants.cell.fast_path`); anything else is a ValueError.
Used as the speed baseline, by `auto` on CUDA for those variants, and for users who want
torch's kernel behind the layer.
The layer's weights are separate parameters, not cuDNN's flat buffer, so on CUDA cuDNN copies
them into one each call (weights only: small next to the activations); torch's warning about
that ("not part of single contiguous chunk") is silenced here.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import Tensor

from variants.backends import Engine
from variants.cell import Cell, fast_path
from variants.engine import LayerWeights


def supports_torch_fused(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when `run_torch_fused` can run `cell`; else the one-line reason."""
    if recurrent_mask is not None:
        return ("backend='cudnn' does not implement recurrent_dropout; accepted: "
                "recurrent_dropout=0 (or eval mode), or backend='reference'")
    _, reason = fast_path(cell, "torch_fused")
    if reason is None:
        return None
    return (f"backend='cudnn' runs only torch's own math; accepted variants: rnn, lstm, gru with "
            f"default activations and no peepholes, got {cell.name!r} ({reason})")


def run_torch_fused(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `cudnn`: the contract of `variants.engine.run_reference`, via torch's fused op."""
    reason = supports_torch_fused(cell, x, recurrent_mask)
    if reason is not None:
        raise ValueError(reason)
    mode = cell.torch_fused()
    flat = [weights.weight_ih, weights.weight_hh]
    has_bias = weights.bias_ih is not None
    if has_bias:
        flat += [weights.bias_ih, weights.bias_hh]
    if reverse:
        x = x.flip(0)
    with _quiet_weight_format() if x.is_cuda else contextlib.nullcontext():
        out, final = _run(mode, x, state, flat, has_bias)
    if reverse:
        out = out.flip(0)
    return out, final


@contextlib.contextmanager
def _quiet_weight_format():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part of single contiguous chunk")
        yield


def _run(mode: str, x: Tensor, state: tuple[Tensor, ...], flat: list[Tensor],
         has_bias: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    hx = tuple(s.unsqueeze(0) for s in state)
    # train=True whenever a backward may follow: cuDNN keeps its reserve space only then ("cudnn
    # RNN backward can only be called in training mode"); dropout is 0, so nothing else changes
    train = torch.is_grad_enabled()
    args = (has_bias, 1, 0.0, train, False, False)  # layers, dropout, train, bidir, batch_first
    if mode == "lstm":
        out, h, c = torch._VF.lstm(x, hx, flat, *args)
        final = (h[0], c[0])
    elif mode == "gru":
        out, h = torch._VF.gru(x, hx[0], flat, *args)
        final = (h[0],)
    else:
        op = torch._VF.rnn_tanh if mode == "rnn_tanh" else torch._VF.rnn_relu
        out, h = op(x, hx[0], flat, *args)
        final = (h[0],)
    return out, final


ENGINE = Engine(run_torch_fused, supports_torch_fused)
