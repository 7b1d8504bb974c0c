"""The fused Triton backend agrees with the reference engine and torch's modules, grads included.

Without CUDA these tests run the kernels in Triton's CPU interpreter: the module sets
TRITON_INTERPRET=1 before the kernels are defined (they are imported lazily by the backend, and
`triton.jit` reads the variable when it decorates). With CUDA (scripts/gpu_check.sh) they run the
compiled kernels on the GPU. Sizes are tiny: the interpreter runs every program in Python.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

triton = pytest.importorskip("triton", reason="triton is a dev dependency on Linux")

import variants  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
FUSED = ["rnn", "lstm", "gru", "peephole", "cifg", "nig", "nfg", "nog", "niaf", "noaf"]


def _grads(layer, backend, x, state, weights):
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state[0] if len(state) == 1 else state)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    loss = sum((t * w).sum() for t, w in zip([out, *finals], weights, strict=True))
    loss.backward()
    params = [p.grad for _, p in sorted(layer.named_parameters())]
    return [out, *finals, x.grad, *(s.grad for s in state), *params]


def _compare(name, dtype=torch.float32, tol=2e-5, hidden=HIDDEN, **options):
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, hidden, generator=gen, **options).to(DEVICE, dtype)
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    n_state = len(layer.cell.state_names)
    x = torch.randn(STEPS, BATCH, INPUT, generator=gen).to(DEVICE, dtype)
    state = tuple(torch.randn(rows, BATCH, hidden, generator=gen).to(DEVICE, dtype)
                  for _ in range(n_state))
    out_shape = (STEPS, BATCH, hidden * (2 if layer.bidirectional else 1))
    weights = [torch.randn(out_shape, generator=gen).to(DEVICE, dtype)]
    weights += [torch.randn(s.shape, generator=gen).to(DEVICE, dtype) for s in state]
    ref = _grads(layer, "reference", x, state, weights)
    fused = _grads(layer, "triton", x, state, weights)
    for a, b in zip(fused, ref, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a.float(), b.float(), atol=tol, rtol=tol)


@pytest.mark.parametrize("name", FUSED)
def test_fused_variant_matches_reference(name):
    _compare(name)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("lstm", {"num_layers": 2, "bidirectional": True}),
        ("gru", {"bias": False, "recurrent_activation": "hard_sigmoid"}),
        ("rnn", {"nonlinearity": "relu", "go_backwards": True}),
        ("cifg", {"peepholes": False, "activation": "relu"}),
    ],
)
def test_fused_options_match_reference(name, options):
    _compare(name, **options)


def test_hidden_larger_than_one_tile_matches_reference():
    """H = 70 spans two 64-wide column tiles and three 32-wide reduction chunks."""
    _compare("lstm", hidden=70, tol=5e-5)


def test_bfloat16_close_to_reference():
    _compare("lstm", dtype=torch.bfloat16, tol=5e-2)


@pytest.mark.parametrize(("name", "module"), [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_fused_matches_torch_module(name, module):
    gen = torch.Generator().manual_seed(1)
    torch_layer = module(INPUT, HIDDEN, batch_first=True).to(DEVICE)
    layer = variants.build(name, INPUT, HIDDEN, batch_first=True, backend="triton").to(DEVICE)
    layer.load_state_dict(torch_layer.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, generator=gen).to(DEVICE)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, _ = torch_layer(x1)
    out2, _ = layer(x2)
    torch.testing.assert_close(out2, out1, atol=2e-5, rtol=2e-5)
    out1.pow(2).sum().backward()
    out2.pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=2e-5, rtol=2e-5)
    for (_, p1), (_, p2) in zip(sorted(torch_layer.named_parameters()),
                                sorted(layer.named_parameters()), strict=True):
        torch.testing.assert_close(p2.grad, p1.grad, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("name", ["gru_cho", "fgr"])
def test_unfused_variants_are_refused_with_a_clear_error(name):
    layer = variants.build(name, INPUT, HIDDEN, backend="triton").to(DEVICE)
    with pytest.raises(ValueError, match="backend='triton' has no fused kernel"):
        layer(torch.randn(STEPS, BATCH, INPUT, device=DEVICE))
