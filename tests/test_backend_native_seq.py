"""Backend `native` (whole time loops in C, `variants.backends.bptt.sequence`) against the
reference engine: outputs, final state and every gradient, float64 to 1e-10 and float32 to
rounding; its register-blocked matmul against torch; what it refuses, and why."""

from __future__ import annotations

import ctypes

import pytest
import torch

import variants
from variants.backends import supports
from variants.backends.auto import choose_backend
from variants.backends.bptt import native as bptt_native
from variants.cell import cell_class, stale_hook

pytestmark = pytest.mark.skipif(bptt_native.library() is None, reason="needs a C compiler")

# B = 7: one 6-row band of the tile and a 1-row edge; H = 5 and 9: vector and scalar column edges
SIZES = [(6, 7, 4, 5), (4, 2, 3, 9)]  # (T, B, I, H)
SEQUENCE_CELLS = ["lstm", "peephole", "cifg", "nig", "nfg", "nog", "niaf", "noaf", "gru", "rnn"]


def _run(layer, backend, x, state, weights):
    """Forward + backward of a random linear functional of every output; all results and grads."""
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state[0] if len(state) == 1 else state)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    loss = sum((t * w).sum() for t, w in zip([out, *finals], weights, strict=True))
    loss.backward()
    grads = [x.grad, *(s.grad for s in state)]
    grads += [p.grad for _, p in sorted(layer.named_parameters())]
    return [out, *finals], grads


def _compare(name, dtype, tol, size, **options):
    steps, batch, inputs, hidden = size
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, inputs, hidden, dtype=dtype, generator=gen, **options)
    x = torch.randn(steps, batch, inputs, generator=gen, dtype=dtype)
    rows = layer.num_layers * layer.num_directions
    state = tuple(torch.randn(rows, batch, hidden, generator=gen, dtype=dtype)
                  for _ in layer.cell.state_names)  # a non-zero initial state
    shapes = [(steps, batch, layer.num_directions * hidden)] + [s.shape for s in state]
    weights = [torch.randn(shape, generator=gen, dtype=dtype) for shape in shapes]
    ref_out, ref_grads = _run(layer, "reference", x, state, weights)
    out, grads = _run(layer, "native", x, state, weights)
    assert layer.resolved_backend == "native"
    for a, b in zip(out + grads, ref_out + ref_grads, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", SEQUENCE_CELLS)
def test_matches_reference_float64(name, size):
    _compare(name, torch.float64, 1e-10, size)


def test_relu_rnn_matches_reference_float64():
    _compare("rnn", torch.float64, 1e-10, SIZES[0], nonlinearity="relu")


@pytest.mark.parametrize("name", ["lstm", "cifg", "gru", "rnn"])
def test_matches_reference_float32(name):
    _compare(name, torch.float32, 1e-4, SIZES[0])


@pytest.mark.parametrize("name", ["peephole", "gru"])
def test_two_layers_bidirectional_float64(name):
    _compare(name, torch.float64, 1e-10, SIZES[0], num_layers=2, bidirectional=True)


def test_every_cell_is_run_to_the_reference_or_refused_with_one_line():
    # a cell added later whose bptt kernel is one of the three built-in classes runs too: it must
    # then agree with the reference like the cells above
    x = torch.zeros(2, 1, 3)
    for name in variants.names():
        if stale_hook(cell_class(name)(4), "bptt_kernel") is not None:
            continue
        layer = variants.build(name, 3, 4)
        reason = supports("native", layer.cell, x, None)
        if reason is None:
            _compare(name, torch.float64, 1e-10, SIZES[1])
        else:
            assert reason.startswith("backend='native' cannot run") and "\n" not in reason
    assert supports("native", variants.build("lstm", 3, 4).cell, x, None) is None


def test_a_second_backward_with_retained_graph_gives_the_same_gradients():
    gen = torch.Generator().manual_seed(1)
    layer = variants.build("lstm", 3, 4, backend="native", dtype=torch.float64, generator=gen)
    out, _ = layer(torch.randn(5, 2, 3, generator=gen, dtype=torch.float64))
    loss = out.pow(2).sum()
    first = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(layer.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize(("name", "options", "x", "needle"), [
    ("fgr", {}, torch.zeros(2, 1, 3), "full_gate_recurrence"),
    ("gru_cho", {}, torch.zeros(2, 1, 3), "GRUChoKernel"),
    ("lstm", {}, torch.zeros(2, 1, 3, dtype=torch.bfloat16), "bfloat16"),
])
def test_refuses_what_it_cannot_run_with_the_reason(name, options, x, needle):
    layer = variants.build(name, 3, 4, backend="native", dtype=x.dtype, **options)
    reason = supports("native", layer.cell, x, None)
    assert reason is not None and needle in reason
    with pytest.raises(ValueError, match="backend='native' cannot run"):
        layer(x)


def test_refuses_recurrent_dropout_and_a_disabled_compiler(monkeypatch):
    layer = variants.build("lstm", 3, 4, backend="native", recurrent_dropout=0.5)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layer(torch.zeros(2, 1, 3))
    monkeypatch.setenv("GATEBENCH_NATIVE", "0")
    reason = supports("native", layer.cell, torch.zeros(2, 1, 3), None)
    assert reason is not None and "GATEBENCH_NATIVE=0" in reason
    assert choose_backend(layer.cell, torch.zeros(2, 32, 3), None) == "bptt"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("m", "n", "k"), [(6, 16, 3), (7, 9, 5), (13, 40, 33), (1, 1, 1),
                                           (2, 3, 7), (32, 128, 32)])
def test_blocked_matmul_equals_torch(dtype, m, n, k):
    # C += A B through every tile shape: 6-row bands, 1-5 row edges, vector and scalar columns;
    # A and C with row strides wider than their rows
    suffix = bptt_native.SUFFIX[dtype]
    gemm = getattr(bptt_native.library(), "gemm_acc_test" + suffix)
    gen = torch.Generator().manual_seed(m * n * k)
    a = torch.randn(m, k + 2, generator=gen, dtype=dtype)
    b = torch.randn(k, n, generator=gen, dtype=dtype)
    c = torch.randn(m, n + 3, generator=gen, dtype=dtype)
    want = c.clone()
    want[:, :n] += a[:, :k] @ b
    gemm(m, n, k, a.data_ptr(), k + 2, b.data_ptr(), n, c.data_ptr(), n + 3)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(c, want, atol=tol, rtol=tol)
    assert isinstance(getattr(bptt_native.library(), "gemm_simd" + suffix)(), int)
    assert ctypes.sizeof(ctypes.c_int64) == 8
