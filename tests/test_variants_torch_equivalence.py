"""rnn, lstm and gru with a torch module's state_dict agree with torch.nn.RNN/LSTM/GRU exactly."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import variants

INPUT, HIDDEN, STEPS, BATCH = 7, 13, 6, 4
TORCH_MODULES = {"rnn": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# The cells' own code runs only in the reference engine: equivalence is asserted there; each fast
# backend is compared with the reference in tests/test_backend_*.py.
REFERENCE = "reference"
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
CASES = list(itertools.product(
    ["rnn", "rnn_relu", "lstm", "gru"], [1, 2], [False, True], [False, True], [False, True],
    ["float64", "float32"],
))


def _pair(kind: str, num_layers: int, bidirectional: bool, batch_first: bool,
          dtype: torch.dtype, seed: int) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    reference = TORCH_MODULES[kind](INPUT, HIDDEN, num_layers=num_layers, batch_first=batch_first,
                                    bidirectional=bidirectional, **extra).to(dtype)
    name = "rnn" if kind == "rnn_relu" else kind
    ours = variants.build(name, INPUT, HIDDEN, backend=REFERENCE, num_layers=num_layers,
                          batch_first=batch_first,
                          bidirectional=bidirectional, dtype=dtype, **extra)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def _run(module: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None,
         weights: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Outputs and the gradients of a random linear functional of them."""
    x = x.clone().requires_grad_()
    leaves = [x]
    if state is not None:
        state = tuple(s.clone().requires_grad_() for s in state)
        leaves += list(state)
        arg = state[0] if len(state) == 1 else state
        output, final = module(x, arg)
    else:
        output, final = module(x)
    finals = list(final) if isinstance(final, tuple) else [final]
    outs = [output, *finals]
    loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True))
    params = [p for _, p in sorted(module.named_parameters())]
    grads = torch.autograd.grad(loss, leaves + params)
    return outs, list(grads)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,with_state,dtype_name", CASES)
def test_matches_torch_module(kind: str, num_layers: int, bidirectional: bool, batch_first: bool,
                              with_state: bool, dtype_name: str) -> None:
    dtype = getattr(torch, dtype_name)
    ours, reference = _pair(kind, num_layers, bidirectional, batch_first, dtype, seed=num_layers)
    assert sorted(dict(ours.named_parameters())) == sorted(dict(reference.named_parameters()))
    g = torch.Generator().manual_seed(1)
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, generator=g, dtype=dtype)
    rows = num_layers * (2 if bidirectional else 1)
    n_state = 2 if kind == "lstm" else 1
    state = tuple(torch.randn(rows, BATCH, HIDDEN, generator=g, dtype=dtype)
                  for _ in range(n_state)) if with_state else None
    out_shape = (*shape[:2], HIDDEN * (2 if bidirectional else 1))
    weights = [torch.randn(out_shape, generator=g, dtype=dtype)] + [
        torch.randn(rows, BATCH, HIDDEN, generator=g, dtype=dtype) for _ in range(n_state)]
    ours_out, ours_grads = _run(ours, x, state, weights)
    ref_out, ref_grads = _run(reference, x, state, weights)
    tol = TOLERANCE[dtype_name]
    assert len(ours_grads) == len(ref_grads)
    for a, b in zip(ours_out + ours_grads, ref_out + ref_grads, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=tol, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_unbatched_input_matches_torch(kind: str) -> None:
    ours, reference = _pair(kind, 2, True, False, torch.float64, seed=3)
    x = torch.randn(STEPS, INPUT, dtype=torch.float64)
    ours_out, ours_state = ours(x)
    ref_out, ref_state = reference(x)
    torch.testing.assert_close(ours_out, ref_out, atol=1e-10, rtol=0)
    for a, b in zip(torch.utils._pytree.tree_leaves(ours_state),
                    torch.utils._pytree.tree_leaves(ref_state), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_inter_layer_dropout_only_in_training() -> None:
    ours, reference = _pair("lstm", 2, False, False, torch.float64, seed=4)
    ours.dropout = 0.5
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64)
    torch.testing.assert_close(ours.eval()(x)[0], reference(x)[0], atol=1e-10, rtol=0)
    assert not torch.allclose(ours.train()(x)[0], reference(x)[0])


def test_default_parameter_counts_equal_torch() -> None:
    for name, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)):
        ours = variants.build(name, INPUT, HIDDEN, backend=REFERENCE, num_layers=2,
                              bidirectional=True)
        assert variants.count_parameters(ours) == sum(
            p.numel() for p in cls(INPUT, HIDDEN, num_layers=2, bidirectional=True).parameters())
