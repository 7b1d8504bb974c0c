"""The hand-written BPTT backend agrees with the reference engine and torch's fused modules."""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends.bptt import native as bptt_native
from variants.backends.bptt.engine import run_sequence
from variants.backends.bptt.gru import GRUKernel
from variants.backends.bptt.lstm import LSTMKernel, LSTMSpec
from variants.cell import cell_class, stale_hook

STEPS, BATCH, INPUT, HIDDEN = 6, 3, 4, 5


@pytest.fixture(autouse=True, params=["native", "torch-ops"])
def lstm_step_path(request, monkeypatch):
    """Every test runs twice: with the compiled LSTM step (csrc/bptt_steps.c) and without it."""
    monkeypatch.setenv("GATEBENCH_NATIVE", "1" if request.param == "native" else "0")
    if request.param == "native":
        assert bptt_native.steps_for(torch.float64) is not None, "no C compiler for the native step"
    return request.param


def _state(layer, gen, dtype):
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    n = len(layer.cell.state_names)
    parts = tuple(torch.randn(rows, BATCH, HIDDEN, generator=gen, dtype=dtype) for _ in range(n))
    return parts


def _run(layer, backend, x, state, weights):
    """Forward + backward of a random linear functional; returns outputs and every gradient."""
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state[0] if len(state) == 1 else state)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    pairs = zip([out, *finals], weights, strict=True)
    loss = sum((t * w).sum() for t, w in pairs)
    loss.backward()
    grads = [x.grad, *(s.grad for s in state)]
    grads += [p.grad for _, p in sorted(layer.named_parameters())]
    return [out, *finals], grads


def _compare(name, dtype=torch.float64, tol=1e-10, steps=STEPS, **options):
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, dtype=dtype, generator=gen, **options)
    x = torch.randn(steps, BATCH, INPUT, generator=gen, dtype=dtype)
    state = _state(layer, gen, dtype)
    with torch.no_grad():
        out, final = layer(x, state[0] if len(state) == 1 else state)
    shapes = [out.shape] + [s.shape for s in state]
    weights = [torch.randn(shape, generator=gen, dtype=dtype) for shape in shapes]
    ref_out, ref_grads = _run(layer, "reference", x, state, weights)
    out, grads = _run(layer, "bptt", x, state, weights)
    for a, b in zip(out, ref_out, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    assert len(grads) == len(ref_grads)
    for a, b in zip(grads, ref_grads, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


# every cell that declares a bptt kernel (the scan cells, minGRU and minLSTM, declare none:
# tests/test_cells_2024.py compares their scan with the reference)
BPTT_CELLS = [n for n in variants.names()
              if stale_hook(cell_class(n)(HIDDEN), "bptt_kernel") is None]


@pytest.mark.parametrize("name", BPTT_CELLS)
def test_every_variant_matches_reference_float64(name):
    _compare(name)


@pytest.mark.parametrize("name", BPTT_CELLS)
def test_every_variant_matches_reference_across_backward_chunks(name):
    # 70 steps: the backward loop works in chunks of 32 steps; cross two chunk boundaries
    _compare(name, steps=70)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn", "fgr", "gru_cho"])
def test_two_layers_bidirectional_matches_reference(name):
    _compare(name, num_layers=2, bidirectional=True)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("rnn", {"nonlinearity": "relu"}),
        ("lstm", {"recurrent_activation": "hard_sigmoid", "bias": False}),
        ("peephole", {"activation": "relu"}),
        ("cifg", {"peepholes": False}),
        ("gru", {"bias": False, "recurrent_activation": "hard_sigmoid"}),
        ("gru_cho", {"activation": "linear"}),
        ("noaf", {"go_backwards": True}),
        ("fgr", {"peepholes": False}),
    ],
)
def test_options_match_reference(name, options):
    _compare(name, **options)


@pytest.mark.parametrize("name", ["peephole", "nfg"])
def test_float32_matches_reference(name):
    _compare(name, dtype=torch.float32, tol=1e-5)


@pytest.mark.parametrize(("name", "module"), [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU),
                                              ("rnn", torch.nn.RNN)])
def test_matches_torch_fused_module(name, module):
    gen = torch.Generator().manual_seed(1)
    torch_layer = module(INPUT, HIDDEN, num_layers=2, batch_first=True).double()
    layer = variants.build(name, INPUT, HIDDEN, num_layers=2, batch_first=True,
                           dtype=torch.float64, backend="bptt")
    layer.load_state_dict(torch_layer.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, generator=gen, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, _ = torch_layer(x1)
    out2, _ = layer(x2)
    torch.testing.assert_close(out2, out1, atol=1e-10, rtol=1e-10)
    out1.pow(2).sum().backward()
    out2.pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-10, rtol=1e-10)
    for (n1, p1), (n2, p2) in zip(sorted(torch_layer.named_parameters()),
                                  sorted(layer.named_parameters()), strict=True):
        assert n1 == n2
        torch.testing.assert_close(p2.grad, p1.grad, atol=1e-10, rtol=1e-10)


def test_gradcheck_lstm_kernel_with_peepholes_and_fgr():
    gen = torch.Generator().manual_seed(2)
    spec = LSTMSpec(blocks=("i", "f", "g", "o"), peephole_gates=("i", "f", "o"),
                    full_gate_recurrence=("i", "f", "o"))
    kernel = LSTMKernel(spec)

    def rand(*shape):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()

    xp, h0, c0 = rand(4, 2, 12), rand(2, 3), rand(2, 3)
    w_hh, peep, gate_hh = rand(12, 3), rand(3, 3), rand(9, 9)

    def fn(*tensors):
        out, final = run_sequence(kernel, tensors[0], tensors[1:3], tensors[3:])
        return out, *final

    assert torch.autograd.gradcheck(fn, (xp, h0, c0, w_hh, peep, gate_hh))


def test_gradcheck_gru_kernel():
    gen = torch.Generator().manual_seed(3)
    kernel = GRUKernel()

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    def fn(xp, h0, w_hh, b_hh):
        out, final = run_sequence(kernel, xp, (h0,), (w_hh, b_hh))
        return out, *final

    assert torch.autograd.gradcheck(fn, (rand(4, 2, 9), rand(2, 3), rand(9, 3), rand(9)))


def test_recurrent_dropout_is_refused_in_training():
    layer = variants.build("lstm", INPUT, HIDDEN, recurrent_dropout=0.5, backend="bptt")
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layer(torch.randn(STEPS, BATCH, INPUT))
    layer.eval()
    out, _ = layer(torch.randn(STEPS, BATCH, INPUT))
    assert out.shape == (STEPS, BATCH, HIDDEN)


@pytest.mark.parametrize("name", ["lstm", "peephole", "gru", "gru_cho", "fgr"])
def test_retain_graph_gives_the_same_gradients_twice(name):
    # backward overwrites the saved gate buffer in place, unless the graph is kept for another
    gen = torch.Generator().manual_seed(4)
    layer = variants.build(name, INPUT, HIDDEN, dtype=torch.float64, generator=gen,
                           backend="bptt")
    x = torch.randn(40, BATCH, INPUT, generator=gen, dtype=torch.float64)
    loss = layer(x)[0].pow(2).sum()
    first = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(layer.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        torch.autograd.grad(loss, list(layer.parameters()))


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_input_without_grad_gives_the_reference_weight_gradients(name):
    # the usual first layer: x needs no gradient, so the node skips d x (one matmul less)
    gen = torch.Generator().manual_seed(5)
    layer = variants.build(name, INPUT, HIDDEN, dtype=torch.float64, generator=gen)
    x = torch.randn(STEPS, BATCH, INPUT, generator=gen, dtype=torch.float64)
    grads = {}
    for backend in ("reference", "bptt"):
        layer.backend = backend
        layer.zero_grad()
        layer(x)[0].pow(2).sum().backward()
        grads[backend] = [p.grad.clone() for p in layer.parameters()]
    for a, b in zip(grads["bptt"], grads["reference"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("fed_back", [("o", "i", "f"), ("g",), ("f",)])
def test_lstm_kernel_rejects_a_gate_recurrence_it_cannot_lay_out(fed_back):
    # the kernel keeps the fed-back gates in one slice (Q's order, 'o' last) beside the c blocks
    with pytest.raises(ValueError, match="bptt lstm"):
        LSTMKernel(LSTMSpec(full_gate_recurrence=fed_back))


def test_lstm_kernel_on_a_non_contiguous_projection_matches_the_contiguous_one():
    # the compiled step needs contiguous gate rows; a strided xp takes the torch-op path instead
    gen = torch.Generator().manual_seed(8)
    kernel = LSTMKernel(LSTMSpec(peephole_gates=("i", "f", "o")))
    xp = torch.randn(5, 20, 3, generator=gen, dtype=torch.float64).transpose(1, 2)  # (5, 3, 20)
    state = (torch.randn(3, 5, generator=gen, dtype=torch.float64),) * 2
    weights = (torch.randn(20, 5, generator=gen, dtype=torch.float64),
               torch.randn(3, 5, generator=gen, dtype=torch.float64))
    out, final, _ = kernel.forward(xp.clone(memory_format=torch.preserve_format), state, weights)
    ref_out, ref_final, _ = kernel.forward(xp.contiguous(), state, weights)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(final[1], ref_final[1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["lstm", "fgr", "gru", "gru_cho", "rnn"])
def test_under_autocast_it_runs_in_float32_and_matches_the_float32_reference(name):
    """Lightning's bf16-mixed: the layer gets a bf16 input and keeps fp32 weights. bptt runs
    the recurrence in float32 (`variants.backends.autocast`): the same numbers as the float32
    reference without autocast, gradients included, and a bf16 gradient for the bf16 input."""
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, generator=gen, backend="bptt")
    x = torch.randn(STEPS, BATCH, INPUT, generator=gen).bfloat16()
    results = {}
    for mode in ("autocast", "float32"):
        layer.zero_grad()
        x_in = x.clone().requires_grad_() if mode == "autocast" else x.float().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
            out, _ = layer(x_in)
        out.pow(2).sum().backward()
        grads = [p.grad.clone() for _, p in sorted(layer.named_parameters())]
        results[mode] = (out, x_in.grad, grads)
    out, x_grad, grads = results["autocast"]
    assert out.dtype == torch.float32 and x_grad.dtype == torch.bfloat16
    torch.testing.assert_close(out, results["float32"][0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(x_grad.float(), results["float32"][1], atol=2e-2, rtol=2e-2)
    for a, b in zip(grads, results["float32"][2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
