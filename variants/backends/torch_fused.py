"""Backend `cudnn`: torch's own fused RNN/LSTM/GRU op (cuDNN on CUDA, oneDNN/ATen on CPU).

Serves only variants whose math is torch's (`rnn`, `lstm`, `gru`, each with default
activations and no peepholes); anything else is a ValueError. Used as the speed baseline and
for users who want torch's kernel behind the gatebench layer.
"""

from __future__ import annotations

import torch
from torch import Tensor

from variants.cell import Cell
from variants.engine import LayerWeights


def torch_mode(cell: Cell) -> str | None:
    """The name of torch's op computing `cell`, or None when torch has none."""
    options = {k: getattr(cell, k, None) for k in ("activation", "recurrent_activation",
                                                    "peepholes")}
    if cell.name == "rnn":
        return "rnn_" + cell.nonlinearity
    if cell.name in ("lstm", "gru") and options["activation"] == "tanh" \
            and options["recurrent_activation"] == "sigmoid" and not options["peepholes"]:
        return cell.name
    return None


def run_torch_fused(
    cell: Cell,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: LayerWeights,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Backend `cudnn`: the contract of `variants.engine.run_reference`, via torch's fused op."""
    mode = torch_mode(cell)
    if mode is None:
        raise ValueError(
            f"backend='cudnn' runs only torch's own math; accepted variants: rnn, lstm, gru with "
            f"default activations and no peepholes, got {cell.name!r}"
        )
    if recurrent_mask is not None:
        raise ValueError("backend='cudnn' does not implement recurrent_dropout; accepted: "
                         "recurrent_dropout=0 (or eval mode), or backend='reference'")
    flat = [weights.weight_ih, weights.weight_hh]
    has_bias = weights.bias_ih is not None
    if has_bias:
        flat += [weights.bias_ih, weights.bias_hh]
    if reverse:
        x = x.flip(0)
    hx = tuple(s.unsqueeze(0) for s in state)
    args = (has_bias, 1, 0.0, False, False, False)  # layers, dropout, train, bidir, batch_first
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
    if reverse:
        out = out.flip(0)
    return out, final
