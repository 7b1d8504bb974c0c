"""The sLSTM's compiled pointwise step (csrc/slstm_step.h) in its `bptt` kernel.

float64: the C path equal to the torch-op path and to the reference engine to 1e-10 (outputs,
final (h, c, n, m), the gradients of x, of the initial state and of every parameter), from a
random state (h0 != 0, m0 != 0) and from a zero state (the first step's m = i~ rule), both forget
gates, heads 1 and 2; each run is checked to have taken the path it claims (C calls counted).
The stabiliser's tie (i~ = log f + m_{t-1}: torch.maximum splits the gradient in halves) is
set up exactly at the kernel. float32: the C path (its own exp/tanh polynomials) close to the
torch-op path.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

import variants
from variants.backends.bptt import native as bptt_native
from variants.backends.bptt.slstm import SLSTMKernel

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None,
                                reason="needs a C compiler to build the kernel")  # fmt: skip

DT = torch.float64
STEPS, BATCH, INPUT, HIDDEN = 12, 3, 4, 6
CASES = [(1, "sigmoid"), (2, "exp"), (2, "sigmoid"), (1, "exp")]


@pytest.fixture
def c_calls(monkeypatch):
    """Counts the compiled sLSTM steps called (forward, backward) through `steps_for`."""
    calls = {"forward": 0, "backward": 0}
    real = bptt_native.steps_for

    def counting(dtype, cell="lstm"):
        found = real(dtype, cell)
        if found is None or cell != "slstm":
            return found

        def forward(*args):
            calls["forward"] += 1
            return found[0](*args)

        def backward(*args):
            calls["backward"] += 1
            return found[1](*args)

        return forward, backward

    monkeypatch.setattr(bptt_native, "steps_for", counting)
    return calls


def _layer(heads: int, forget: str, seed: int):
    gen = torch.Generator().manual_seed(seed)
    layer = variants.build("slstm", INPUT, HIDDEN, heads=heads, forget_gate=forget, dtype=DT,
                           generator=gen)
    with torch.no_grad():  # R's init is 0: a random one exercises the head-wise matmul
        layer.weight_hh_l0.normal_(0.0, 0.5, generator=gen)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=gen)
    h, c, n, m = (torch.randn(1, BATCH, HIDDEN, dtype=DT, generator=gen) for _ in range(4))
    weights = [torch.randn(STEPS, BATCH, HIDDEN, dtype=DT, generator=gen)] + [
        torch.randn(1, BATCH, HIDDEN, dtype=DT, generator=gen) for _ in range(4)]
    return layer, x, (h, c, n.abs() + 0.5, m), weights


def _run(layer, backend, x, state, weights):
    """Outputs, final state and every gradient of a random linear functional of them."""
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state) if state is not None else None
    out, final = layer(x, state)
    loss = sum((t * w).sum() for t, w in zip([out, *final], weights, strict=True))
    loss.backward()
    grads = [s.grad for s in state] if state is not None else []
    return [out, *final, x.grad, *grads, *(p.grad for _, p in sorted(layer.named_parameters()))]


@pytest.mark.parametrize(("heads", "forget"), CASES)
@pytest.mark.parametrize("zero_state", [False, True])
def test_c_step_equals_torch_ops_and_reference_in_float64(heads, forget, zero_state, c_calls,
                                                         monkeypatch):
    layer, x, state, weights = _layer(heads, forget, seed=3 + heads)
    state = None if zero_state else state
    reference = _run(layer, "reference", x, state, weights)
    monkeypatch.setenv("GATEBENCH_NATIVE", "1")
    native = _run(layer, "bptt", x, state, weights)
    assert c_calls == {"forward": STEPS, "backward": STEPS}
    monkeypatch.setenv("GATEBENCH_NATIVE", "0")
    torch_ops = _run(layer, "bptt", x, state, weights)
    assert c_calls == {"forward": STEPS, "backward": STEPS}  # the fallback called no C
    assert layer.resolved_backend == "bptt"
    for a, b, want in zip(native, torch_ops, reference, strict=True):
        assert a is not None and want is not None
        torch.testing.assert_close(a, want, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(b, want, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def _kernel_pass(kernel, xp, state0, weights, d_out, d_final):
    out, final, saved = kernel.forward(xp.clone(), tuple(s.clone() for s in state0), weights)
    results = [out.clone(), *final, *(saved[k].clone() for k in ("sel", "cs", "ns"))]
    d_a, d_state0, d_weights = kernel.backward(saved, d_out, d_final)
    return results + [d_a, *d_state0, *d_weights]


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_c_step_splits_the_stabiliser_tie_as_torch_maximum(forget, monkeypatch):
    """i~ = log f + m_{t-1} exactly at step 0 for half the units: sel = 1/2 there, both paths."""
    gen = torch.Generator().manual_seed(11)
    kernel = SLSTMKernel(heads=2, forget_gate=forget)
    xp = torch.randn(STEPS, BATCH, 4 * HIDDEN, dtype=DT, generator=gen)
    h0, c0, m0 = (torch.randn(BATCH, HIDDEN, dtype=DT, generator=gen) for _ in range(3))
    n0 = torch.rand(BATCH, HIDDEN, dtype=DT, generator=gen) + 0.5
    n0[0, 1] = 0.0  # one zero normaliser (a unit without a tie): m = i~ there at t = 0
    w_hh = torch.zeros(4 * HIDDEN, HIDDEN // 2, dtype=DT)  # R h0 = 0: step 0's a is xp[0]
    f_raw = xp[0, :, HIDDEN : 2 * HIDDEN]
    log_f = torch.nn.functional.logsigmoid(f_raw) if forget == "sigmoid" else f_raw
    tie = torch.arange(HIDDEN) % 2 == 0
    xp[0, :, :HIDDEN] = torch.where(tie, log_f + m0, xp[0, :, :HIDDEN])
    d_out = torch.randn(STEPS, BATCH, HIDDEN, dtype=DT, generator=gen)
    d_final = tuple(torch.randn(BATCH, HIDDEN, dtype=DT, generator=gen) for _ in range(4))
    runs = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("GATEBENCH_NATIVE", flag)
        runs[flag] = _kernel_pass(kernel, xp, (h0, c0, n0, m0), (w_hh,), d_out, d_final)
    sel = runs["1"][5]
    assert torch.equal(sel[0][:, tie], torch.full_like(sel[0][:, tie], 0.5))
    for a, b in zip(runs["1"], runs["0"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(("heads", "forget"), [(1, "sigmoid"), (4, "exp")])
def test_float32_c_step_matches_the_torch_op_path(heads, forget, monkeypatch):
    # the C step uses its own exp/tanh polynomials in float32: equal to rounding
    gen = torch.Generator().manual_seed(7)
    layer = variants.build("slstm", 16, 32, heads=heads, forget_gate=forget, backend="bptt",
                           generator=gen)
    with torch.no_grad():
        layer.weight_hh_l0.normal_(0.0, 0.2, generator=gen)
    x = torch.randn(50, 8, 16, generator=gen)
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("GATEBENCH_NATIVE", flag)
        layer.zero_grad()
        xs = x.clone().requires_grad_()
        out, (h, c, n, m) = layer(xs)
        (out.pow(2).sum() + c.sum() + n.sum() + m.sum()).backward()
        results.append([out, h, c, n, m, xs.grad] + [p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
