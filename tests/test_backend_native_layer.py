"""Backend `native`'s whole-layer C loops (input projection and weight gradients inside the time
loop) on the inputs test_backend_native_seq.py does not give them: a batch-first input read in
place, an expanded output gradient (element stride 0), no bias, an input that needs no
gradient, pooled buffers reused by a second call; and the AVX2 and portable matmul tiles, built
here on purpose (a machine with AVX-512 compiles only that tile)."""

from __future__ import annotations

import platform

import pytest
import torch

import variants
from variants.backends.bptt import native as bptt_native

pytestmark = pytest.mark.skipif(bptt_native.library() is None, reason="needs a C compiler")

CELLS = ["lstm", "cifg", "gru", "rnn"]


def _grads(layer, backend, x, x_grad):
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_(x_grad)
    out, final = layer(x)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    (out.sum() + sum(f.sum() for f in finals)).backward()  # expanded gradients: stride 0
    grads = [p.grad for _, p in sorted(layer.named_parameters())]
    return [out, *finals, *grads] + ([x.grad] if x_grad else [])


@pytest.mark.parametrize("name", CELLS)
def test_batch_first_no_bias_expanded_gradient_twice(name):
    gen = torch.Generator().manual_seed(3)
    layer = variants.build(name, 3, 7, dtype=torch.float64, generator=gen, batch_first=True,
                           bias=False)
    x = torch.randn(9, 5, 3, generator=gen, dtype=torch.float64)  # (B, T, I)
    want = _grads(layer, "reference", x, True)
    for x_grad in (True, True, False):  # the second call reuses the first one's pooled buffers
        got = _grads(layer, "native", x, x_grad)
        assert layer.resolved_backend == "native"
        for a, b in zip(got, want, strict=False):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def _flags_without(drop: set[str]):
    flags = [f for f in bptt_native.compile_flags() if f not in drop]
    return lambda: flags


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 flags")
@pytest.mark.parametrize(("drop", "simd"), [({"-mavx512f"}, 1),
                                            ({"-mavx512f", "-mavx2", "-mfma"}, 0)])
def test_avx2_and_portable_tiles_match_the_reference(tmp_path, monkeypatch, drop, simd):
    if simd == 1 and not {"avx2", "fma"} <= bptt_native._cpu_flags():
        pytest.skip("no AVX2/FMA here")
    monkeypatch.setenv("GATEBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(bptt_native, "compile_flags", _flags_without(drop))
    library = bptt_native._library.__wrapped__()
    assert library.gemm_simd_f32() == simd and library.gemm_simd_f64() == simd
    monkeypatch.setattr(bptt_native, "_library", lambda: library)
    gen = torch.Generator().manual_seed(4)
    for name in CELLS:
        for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
            # B = 13: two 6-row bands and an edge row; H = 9: vector and scalar column edges
            layer = variants.build(name, 4, 9, dtype=dtype, generator=gen)
            x = torch.randn(6, 13, 4, generator=gen, dtype=dtype)
            want = _grads(layer, "reference", x, True)
            got = _grads(layer, "native", x, True)
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_refuses_an_input_whose_dtype_differs_from_the_weights():
    layer = variants.build("lstm", 3, 4, backend="native")  # float32 weights
    with pytest.raises(ValueError, match="backend='native': input dtype torch.float64"):
        layer(torch.zeros(2, 1, 3, dtype=torch.float64))
