"""Backend selection: `auto` picks bptt on CPU, forced backends that cannot serve raise."""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends.auto import CPU_NATIVE_MAX_HIDDEN, choose_backend


def test_auto_is_the_default_and_picks_native_then_bptt_on_cpu():
    layer = variants.build("peephole", 3, 4)
    assert layer.backend == "auto"
    x = torch.randn(5, 2, 3)
    assert choose_backend(layer.cell, x, None) == "native"  # H <= CPU_NATIVE_MAX_HIDDEN
    wide = variants.build("peephole", 3, CPU_NATIVE_MAX_HIDDEN + 1)
    assert choose_backend(wide.cell, x, None) == "bptt"  # above it
    assert choose_backend(layer.cell, x, torch.ones(2, 4)) == "reference"


def test_auto_with_recurrent_dropout_trains_through_the_reference_loop():
    gen = torch.Generator().manual_seed(0)
    layer = variants.build("lstm", 3, 4, recurrent_dropout=0.3, generator=gen)
    out, _ = layer(torch.randn(5, 2, 3))
    out.sum().backward()
    assert layer.weight_hh_l0.grad is not None


@pytest.mark.parametrize(("name", "module"), [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU),
                                              ("rnn", torch.nn.RNN)])
def test_cudnn_backend_is_torchs_module(name, module):
    torch_layer = module(3, 4, num_layers=2, bidirectional=True).double()
    layer = variants.build(name, 3, 4, num_layers=2, bidirectional=True, backend="cudnn",
                           dtype=torch.float64)
    layer.load_state_dict(torch_layer.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], torch_layer(x)[0], atol=1e-12, rtol=1e-12)


def test_cudnn_refuses_variants_with_other_math():
    layer = variants.build("peephole", 3, 4, backend="cudnn")
    with pytest.raises(ValueError, match="backend='cudnn' runs only torch's own math"):
        layer(torch.randn(5, 2, 3))


def test_triton_on_cpu_without_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    layer = variants.build("lstm", 3, 4, backend="triton")
    with pytest.raises(ValueError, match="backend='triton' needs CUDA tensors"):
        layer(torch.randn(5, 2, 3))


@pytest.mark.parametrize(("name", "options", "expected"), [
    ("lstm", {}, "cudnn"),  # torch's own math: cuDNN's fused kernel
    ("gru", {}, "cudnn"),
    ("rnn", {"nonlinearity": "relu"}, "cudnn"),
    ("lstm", {"recurrent_activation": "hard_sigmoid"}, "triton"),  # not torch's math any more
    ("peephole", {}, "triton"),
    ("cifg", {}, "triton"),
    ("fgr", {}, "triton"),
    ("gru_cho", {}, "triton"),
])
def test_auto_on_cuda_picks_cudnn_for_torchs_math_and_triton_for_the_rest(name, options,
                                                                           expected, monkeypatch):
    """CUDA's preference list, asked on CPU tensors with Triton's interpreter standing in."""
    pytest.importorskip("triton")
    from variants.backends.auto import PREFERENCE, first_supported

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    layer = variants.build(name, 3, 4, **options)
    x = torch.randn(5, 2, 3)
    assert first_supported(PREFERENCE["cuda"], layer.cell, x, None) == expected
    assert first_supported(PREFERENCE["cuda"], layer.cell, x, torch.ones(2, 4)) == "reference"
    assert choose_backend(layer.cell, x, None) == ("bptt" if name in ("fgr", "gru_cho")
                                                   else "native")  # x is on the CPU, H = 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuDNN needs a CUDA device "
                    "(scripts/gpu_check.sh runs this on a GPU machine)")
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_cudnn_backend_trains_on_cuda(name):
    # `auto` sends these variants to cuDNN on CUDA: its backward must run and match the loop
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, 3, 4, dtype=torch.float64, generator=gen).cuda()
    x = torch.randn(6, 2, 3, dtype=torch.float64, generator=gen).cuda()
    grads = {}
    for backend in ("cudnn", "reference"):
        layer.backend = backend
        layer.zero_grad()
        layer(x)[0].pow(2).sum().backward()
        grads[backend] = [p.grad.clone() for p in layer.parameters()]
    for a, b in zip(grads["cudnn"], grads["reference"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=1e-8)
