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
tl = triton.language

import variants  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
FUSED = ["rnn", "lstm", "gru", "gru_cho", "peephole", "cifg", "nig", "nfg", "nog", "niaf",
         "noaf", "fgr"]


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


def _compare(name, dtype=torch.float32, tol=2e-5, hidden=HIDDEN, steps=STEPS, **options):
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, hidden, generator=gen, **options).to(DEVICE, dtype)
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    n_state = len(layer.cell.state_names)
    x = torch.randn(steps, BATCH, INPUT, generator=gen).to(DEVICE, dtype)
    state = tuple(torch.randn(rows, BATCH, hidden, generator=gen).to(DEVICE, dtype)
                  for _ in range(n_state))
    out_shape = (steps, BATCH, hidden * (2 if layer.bidirectional else 1))
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
        ("gru_cho", {"num_layers": 2, "bidirectional": True,
                     "recurrent_activation": "hard_sigmoid"}),
        ("fgr", {"peepholes": False, "go_backwards": True}),
    ],
)
def test_fused_options_match_reference(name, options):
    _compare(name, **options)


@pytest.mark.parametrize("name", ["lstm", "fgr", "gru_cho"])
def test_hidden_larger_than_one_tile_matches_reference(name):
    """H = 70 spans two 64-wide column tiles and three 32-wide reduction chunks."""
    _compare(name, hidden=70, tol=5e-5)


@pytest.mark.parametrize("name", ["fgr", "gru_cho"])
def test_a_single_step_matches_reference(name):
    """T = 1: fgr's gate recurrence never fires (its weight gradient is zero)."""
    _compare(name, steps=1)


@pytest.mark.parametrize("name", ["lstm", "fgr", "gru_cho"])
def test_bfloat16_close_to_reference(name):
    _compare(name, dtype=torch.bfloat16, tol=5e-2)


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


# ---- a user's cell: the README's UGRNN with its own @triton.jit pointwise math ----------------
@triton.jit
def _ugrnn_fwd(x0, x1, x2, x3, r0, r1, r2, r3, h_prev, c_prev, p0, p1, p2, FLAGS: tl.constexpr):
    c = 2.0 / (1.0 + tl.exp(-2.0 * (x0 + r0))) - 1.0
    g = 1.0 / (1.0 + tl.exp(-(x1 + r1)))
    h = c + g * (h_prev - c)
    return h, c_prev, c, g, c, g


@triton.jit
def _ugrnn_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS: tl.constexpr):
    cand, g = s0, s1
    da_c = dh * (1.0 - g) * (1.0 - cand * cand)
    da_g = dh * (h_prev - cand) * g * (1.0 - g)
    zero = dh * 0.0
    return da_c, da_g, zero, zero, da_c, da_g, zero, zero, dh * g, zero


def _ugrnn_cell(with_kernel: bool):
    from variants.backends.triton.spec import TritonCellSpec

    class UGRNNCell(variants.Cell):
        """Update-gate RNN (Collins et al. 2017): h = g h_prev + (1 - g) tanh(.)."""

        name = "ugrnn_triton"
        blocks = ("c", "g")
        state_names = ("h",)

        def pointwise(self, xp_t, hp_t, carry, extra):
            c, g = (xp_t + hp_t).chunk(2, 1)
            c, g = torch.tanh(c), torch.sigmoid(g)
            return (c + g * (carry[0] - c),)

    if with_kernel:
        UGRNNCell.triton_pointwise = lambda self: TritonCellSpec(
            _ugrnn_fwd, _ugrnn_bwd, flags=0, n_blocks=2, has_c=False, n_saved=2,
            separate_recurrent=False)
    return UGRNNCell


@pytest.fixture
def registry_cleanup():
    from variants.cell import REGISTRY

    yield
    REGISTRY.pop("ugrnn_triton", None)


def test_user_cell_with_its_own_pointwise_runs_fused(registry_cleanup):
    _ugrnn_cell(with_kernel=True)
    _compare("ugrnn_triton")
    _compare("ugrnn_triton", hidden=70, tol=5e-5, go_backwards=True)


def test_cell_without_a_kernel_is_refused_with_a_clear_error(registry_cleanup):
    _ugrnn_cell(with_kernel=False)
    layer = variants.build("ugrnn_triton", INPUT, HIDDEN, backend="triton").to(DEVICE)
    with pytest.raises(ValueError, match="backend='triton' has no fused kernel"):
        layer(torch.randn(STEPS, BATCH, INPUT, device=DEVICE))


def test_gate_recurrence_without_all_four_blocks_is_refused():
    from variants.backends.triton.engine import triton_spec
    from variants.cells.lstm import FGRCell

    class FGRWithoutForgetGate(FGRCell):
        forget_gate = False

    with pytest.raises(ValueError, match="gate recurrence only with blocks i, f, g, o"):
        triton_spec(FGRWithoutForgetGate(HIDDEN))


# ---- `auto`'s probe: triton is checked against the reference before it is trusted ------------
@pytest.mark.parametrize("name", ["peephole", "fgr", "gru_cho"])
def test_probe_accepts_the_built_in_kernels(name):
    from variants.backends.triton.probe import triton_disagreement

    layer = variants.build(name, INPUT, 40).to(DEVICE)
    x = torch.randn(STEPS, BATCH, INPUT, device=DEVICE)
    with torch.inference_mode():  # a first call may come from evaluation
        assert triton_disagreement(layer.cell, x, layer.layer_weights(0, 0)) is None


@triton.jit
def _ugrnn_bwd_wrong(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2,
                     FLAGS: tl.constexpr):
    """_ugrnn_bwd without the direct path g * dh to h_prev: gradients through time are wrong."""
    cand, g = s0, s1
    da_c = dh * (1.0 - g) * (1.0 - cand * cand)
    da_g = dh * (h_prev - cand) * g * (1.0 - g)
    zero = dh * 0.0
    return da_c, da_g, zero, zero, da_c, da_g, zero, zero, zero, zero


def test_probe_rejects_a_wrong_kernel_once_and_auto_falls_back(registry_cleanup, monkeypatch):
    from variants.backends import auto, get_backend
    from variants.backends.triton.probe import triton_disagreement
    from variants.backends.triton.spec import TritonCellSpec

    cls = _ugrnn_cell(with_kernel=False)
    cls.triton_pointwise = lambda self: TritonCellSpec(
        _ugrnn_fwd, _ugrnn_bwd_wrong, flags=0, n_blocks=2, has_c=False, n_saved=2,
        separate_recurrent=False)
    layer = variants.build("ugrnn_triton", INPUT, HIDDEN).to(DEVICE)
    weights = layer.layer_weights(0, 0)
    x = torch.randn(STEPS, BATCH, INPUT, device=DEVICE)
    with pytest.warns(RuntimeWarning, match="disagrees with the reference.*using backend='ref"):
        verdict = triton_disagreement(layer.cell, x, weights)
    assert verdict is not None and "differs by" in verdict
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second probe, no second warning
        assert triton_disagreement(layer.cell, x, weights) == verdict
    # where `auto` would pick triton (CUDA), it runs the reference: gradients through time right
    monkeypatch.setattr(auto, "choose_backend", lambda cell, x, mask: "triton")
    grads = {}
    for name, run in (("auto", auto.run_auto), ("triton", get_backend("triton")),
                      ("reference", variants.engine.run_reference)):
        x_in = x.clone().requires_grad_()
        out, _ = run(layer.cell, x_in, (torch.zeros(BATCH, HIDDEN, device=DEVICE),), weights)
        out.sum().backward()
        grads[name] = x_in.grad
    assert not torch.allclose(grads["triton"], grads["reference"], atol=1e-4)
    torch.testing.assert_close(grads["auto"], grads["reference"])


@pytest.mark.parametrize("name", ["peephole", "gru_cho"])
def test_under_autocast_it_runs_in_float32_and_the_probe_agrees(name):
    """bf16-mixed training: a bf16 input, fp32 weights; the kernels run in float32."""
    from variants.backends.triton.probe import triton_disagreement

    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, generator=gen).to(DEVICE)
    x = torch.randn(STEPS, BATCH, INPUT, generator=gen).to(DEVICE, torch.bfloat16)
    outs = {}
    for backend in ("triton", "reference"):
        layer.backend = backend
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=backend == "triton"):
            outs[backend] = layer(x if backend == "triton" else x.float())[0]
    assert outs["triton"].dtype == torch.float32
    torch.testing.assert_close(outs["triton"], outs["reference"], atol=2e-5, rtol=2e-5)
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        assert triton_disagreement(layer.cell, x, layer.layer_weights(0, 0)) is None


@triton.jit
def _ugrnn_fwd_broken(x0, x1, x2, x3, r0, r1, r2, r3, h_prev, c_prev, p0, p1, p2,
                      FLAGS: tl.constexpr):
    h = tl.no_such_function(x0 + r0)  # fails when compiled or interpreted
    return h, c_prev, h, h, h, h


def test_probe_turns_a_kernel_that_raises_into_a_fallback(registry_cleanup):
    from variants.backends.triton.probe import triton_disagreement
    from variants.backends.triton.spec import TritonCellSpec

    cls = _ugrnn_cell(with_kernel=False)
    cls.triton_pointwise = lambda self: TritonCellSpec(
        _ugrnn_fwd_broken, _ugrnn_bwd, flags=0, n_blocks=2, has_c=False, n_saved=2,
        separate_recurrent=False)
    layer = variants.build("ugrnn_triton", INPUT, HIDDEN).to(DEVICE)
    x = torch.randn(STEPS, BATCH, INPUT, device=DEVICE)
    with pytest.warns(RuntimeWarning, match="disagrees with the reference.*it raised"):
        verdict = triton_disagreement(layer.cell, x, layer.layer_weights(0, 0))
    assert verdict is not None and "no_such_function" in verdict
