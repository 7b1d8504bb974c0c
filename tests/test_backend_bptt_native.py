"""The compiled LSTM step of the `bptt` backend: built once into a cache, optional at run time."""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends.bptt import native as bptt_native


def test_build_caches_one_library_per_source_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEBENCH_CACHE", str(tmp_path))
    first = bptt_native.build()
    assert first.parent == tmp_path and first.suffix == ".so"
    mtime = first.stat().st_mtime_ns
    assert bptt_native.build() == first and first.stat().st_mtime_ns == mtime  # reused
    # no half-written files left: the library and its checksum stamp (variants.native_cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, first.name + ".sha256"]


def test_build_without_the_compiler_names_it():
    with pytest.raises(FileNotFoundError, match="no-such-cc"):
        bptt_native.build("no-such-cc")


def test_without_a_compiler_the_torch_op_path_runs_and_says_so(monkeypatch):
    def no_compiler(compiler=None):
        raise FileNotFoundError("C compiler 'cc' not found")

    monkeypatch.setattr(bptt_native, "build", no_compiler)
    bptt_native._library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="torch-op path"):
            assert bptt_native.steps_for(torch.float32) is None
        layer = variants.build("peephole", 3, 4, backend="bptt", dtype=torch.float64)
        x = torch.randn(5, 2, 3, dtype=torch.float64)
        out, _ = layer(x)
        layer.backend = "reference"
        torch.testing.assert_close(out, layer(x)[0], atol=1e-12, rtol=0)
    finally:
        bptt_native._library.cache_clear()


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("GATEBENCH_NATIVE", "0")
    assert bptt_native.steps_for(torch.float32) is None
    monkeypatch.setenv("GATEBENCH_NATIVE", "1")
    assert bptt_native.steps_for(torch.float32) is not None
    assert bptt_native.steps_for(torch.bfloat16) is None  # bf16 runs the torch-op path


@pytest.mark.parametrize("name", ["lstm", "peephole", "cifg", "noaf", "niaf", "fgr", "gru"])
def test_float32_native_step_matches_the_torch_op_path(name, monkeypatch):
    # the C steps use their own exp/tanh polynomials in float32: equal to rounding
    gen = torch.Generator().manual_seed(7)
    layer = variants.build(name, 16, 32, backend="bptt", generator=gen)
    x = torch.randn(50, 8, 16, generator=gen)
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("GATEBENCH_NATIVE", flag)
        layer.zero_grad()
        xs = x.clone().requires_grad_()
        out, final = layer(xs)
        state = final[-1] if isinstance(final, tuple) else final  # c, or h for the GRU
        (out.pow(2).sum() + state.sum()).backward()
        results.append([out, state, xs.grad] + [p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
