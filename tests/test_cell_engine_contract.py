"""Engines ask, cells answer: a subclass overriding a cell's math never gets its parent's kernel.

For each built-in family (rnn, lstm, gru, gru_cho) a subclass overrides one math member
(`pointwise`, `step`, a gate function); the reference engine honours it (checked against a
hand-written recurrence or against the parent), every backend that accepts the cell agrees with
the reference (outputs and gradients), `auto` runs `reference`, and a forced fast backend refuses
it with a one-line ValueError. A subclass that only changes an option keeps its fast kernel.
"""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends import backend_names, get_engine
from variants.backends.auto import PREFERENCE, choose_backend, first_supported
from variants.cell import REGISTRY, stale_hook
from variants.cells import ElmanCell, GRUCell, GRUChoCell, LSTMCell

STEPS, BATCH, INPUT, HIDDEN = 6, 3, 4, 5


@pytest.fixture(autouse=True)
def clean_registry():
    """Cells defined in a test leave the registry as they found it."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


def _define(family: str, member: str) -> type:
    """A subclass of `family` overriding `member`: its math is the parent's with h halved (or
    sin as an activation), so it differs from the parent on any input."""
    if family == "rnn" and member == "pointwise":
        class Cell(ElmanCell):
            name = "half_rnn"

            def pointwise(self, xp_t, hp_t, carry, extra):
                return (0.5 * self.act(xp_t + hp_t),)
    elif family == "rnn" and member == "act":
        class Cell(ElmanCell):
            name = "sin_rnn"

            def act(self, x):
                return torch.sin(x)
    elif family == "lstm" and member == "pointwise":
        class Cell(LSTMCell):
            name = "half_lstm"

            def pointwise(self, xp_t, hp_t, carry, extra):
                h, c = super().pointwise(xp_t, hp_t, carry, extra)
                return (0.5 * h, c)
    elif family == "lstm" and member == "step":
        class Cell(LSTMCell):  # the example: a step that halves h
            name = "half_step_lstm"

            def step(self, xp_t, h_in, carry, weights):
                h, c = super().step(xp_t, h_in, carry, weights)
                return (0.5 * h, c)
    elif family == "lstm" and member == "gate":
        class Cell(LSTMCell):
            name = "hard_gate_lstm"

            def gate(self, x):
                return torch.clamp(x * 0.25 + 0.5, 0.0, 1.0)
    elif family == "gru" and member == "pointwise":
        class Cell(GRUCell):
            name = "half_gru"

            def pointwise(self, xp_t, hp_t, carry, extra):
                return (0.5 * super().pointwise(xp_t, hp_t, carry, extra)[0],)
    elif family == "gru" and member == "act":
        class Cell(GRUCell):
            name = "sin_gru"

            def act(self, x):
                return torch.sin(x)
    elif family == "gru_cho" and member == "step":
        class Cell(GRUChoCell):
            name = "half_gru_cho"

            def step(self, xp_t, h_in, carry, weights):
                return (0.5 * super().step(xp_t, h_in, carry, weights)[0],)
    else:
        raise AssertionError((family, member))
    return Cell


OVERRIDES = [("rnn", "pointwise"), ("rnn", "act"), ("lstm", "pointwise"), ("lstm", "step"),
             ("lstm", "gate"), ("gru", "pointwise"), ("gru", "act"), ("gru_cho", "step")]


def _run(layer, backend: str, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> list:
    """Outputs, final state and every gradient of a fixed loss on `backend`."""
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state[0] if len(state) == 1 else state)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    (out.pow(2).sum() + sum(f.sum() for f in finals)).backward()
    return [out, *finals, x.grad, *(s.grad for s in state),
            *(p.grad for _, p in sorted(layer.named_parameters()))]


def _inputs(layer, gen):
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64, generator=gen)
    state = tuple(torch.randn(1, BATCH, HIDDEN, dtype=torch.float64, generator=gen)
                  for _ in layer.cell.state_names)
    return x, state


@pytest.mark.parametrize(("family", "member"), OVERRIDES)
def test_a_math_override_is_honoured_or_refused_never_replaced(family, member, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # so triton answers for the cell, not the device
    cls = _define(family, member)
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(cls.name, INPUT, HIDDEN, dtype=torch.float64, generator=gen)
    parent = variants.build(family, INPUT, HIDDEN, dtype=torch.float64)
    parent.load_state_dict(layer.state_dict())
    x, state = _inputs(layer, gen)
    reference = _run(layer, "reference", x, state)
    # the reference engine runs the subclass's math, not the parent's
    assert not torch.allclose(reference[0], _run(parent, "reference", x, state)[0])
    # auto falls back to the reference on every device's preference list
    assert choose_backend(layer.cell, x, None) == "reference"
    assert first_supported(PREFERENCE["cuda"], layer.cell, x, None) == "reference"
    accepted = []
    for backend in backend_names():
        reason = get_engine(backend).supports(layer.cell, x, None)
        if reason is None:
            accepted.append(backend)
            for a, b in zip(_run(layer, backend, x, state), reference, strict=True):
                torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
        else:  # a forced fast backend refuses, in one line naming the override (when it
            # serves the parent; one that never did, e.g. scan, says the cell has no hook)
            assert "\n" not in reason, reason
            if get_engine(backend).supports(parent.cell, x, None) is None:
                assert member in reason, reason
            with pytest.raises(ValueError) as info:
                _run(layer, backend, x, state)
            assert str(info.value) == reason
    assert sorted(accepted) == ["auto", "reference"]


def test_the_reference_runs_the_overridden_math_exactly():
    """sin_rnn's reference output is h_t = sin(x W^T + b + h R^T), written out here."""
    cls = _define("rnn", "act")
    gen = torch.Generator().manual_seed(1)
    layer = variants.build(cls.name, INPUT, HIDDEN, dtype=torch.float64, generator=gen)
    x, (h0,) = _inputs(layer, gen)
    out, _ = layer(x, h0)
    h = h0[0]
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    for t in range(STEPS):
        h = torch.sin(x[t] @ layer.weight_ih_l0.T + h @ layer.weight_hh_l0.T + b)
        torch.testing.assert_close(out[t], h, atol=1e-12, rtol=0)


def test_an_lstm_pointwise_override_is_seen_by_the_reference():
    """The issue's case: an LSTMCell subclass overriding pointwise was ignored by every engine."""
    cls = _define("lstm", "pointwise")
    gen = torch.Generator().manual_seed(2)
    layer = variants.build(cls.name, INPUT, HIDDEN, dtype=torch.float64, generator=gen,
                           backend="reference")
    torch_lstm = torch.nn.LSTM(INPUT, HIDDEN).double()
    torch_lstm.load_state_dict(layer.state_dict())
    x = torch.randn(1, BATCH, INPUT, dtype=torch.float64, generator=gen)
    # one step from a zero state: h is half of torch's h
    torch.testing.assert_close(layer(x)[0], 0.5 * torch_lstm(x)[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize(("parent", "options", "expected"), [
    (LSTMCell, {"recurrent_activation": "hard_sigmoid"}, "native"),
    (ElmanCell, {"nonlinearity": "relu"}, "native"),
    (GRUCell, {"activation": "relu"}, "native"),
])
def test_a_subclass_that_changes_only_an_option_keeps_its_kernel(parent, options, expected,
                                                                  monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")

    class Cell(parent):  # a new constructor default, math untouched
        name = "option_only"

        def __init__(self, hidden_size, **given):
            super().__init__(hidden_size, **{**options, **given})

    gen = torch.Generator().manual_seed(3)
    layer = variants.build("option_only", INPUT, HIDDEN, dtype=torch.float64, generator=gen)
    x, state = _inputs(layer, gen)
    assert choose_backend(layer.cell, x, None) == expected
    for hook in ("bptt_kernel", "triton_pointwise"):
        assert stale_hook(layer.cell, hook) is None
    reference = _run(layer, "reference", x, state)
    for backend in ("bptt", "native"):
        for a, b in zip(_run(layer, backend, x, state), reference, strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    stock = variants.build(parent.name, INPUT, HIDDEN, dtype=torch.float64, **options)
    stock.load_state_dict(layer.state_dict())
    torch.testing.assert_close(reference[0], _run(stock, "reference", x, state)[0])


def test_an_options_only_rnn_subclass_keeps_torchs_fused_op():
    class ReluRNN(ElmanCell):
        name = "relu_rnn"
        options = {"nonlinearity": "relu"}

    layer = variants.build("relu_rnn", INPUT, HIDDEN, backend="cudnn", dtype=torch.float64)
    torch_rnn = torch.nn.RNN(INPUT, HIDDEN, nonlinearity="relu").double()
    torch_rnn.load_state_dict(layer.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], torch_rnn(x)[0], atol=1e-12, rtol=0)


def test_a_subclass_that_declares_the_kernel_again_gets_it():
    class HalfThenStock(LSTMCell):
        name = "redeclared_lstm"

        def pointwise(self, xp_t, hp_t, carry, extra):  # same math, written out again
            return super().pointwise(xp_t, hp_t, carry, extra)

        def bptt_kernel(self):  # the author vouches that the stock kernel computes it
            return super().bptt_kernel()

    layer = variants.build("redeclared_lstm", INPUT, HIDDEN)
    x = torch.randn(STEPS, BATCH, INPUT)
    assert choose_backend(layer.cell, x, None) == "native"  # the stock kernel's C loop
    assert stale_hook(layer.cell, "triton_pointwise") is not None  # not declared again


def test_a_mixin_that_overrides_the_math_voids_the_kernel():
    class Halve:
        def pointwise(self, xp_t, hp_t, carry, extra):
            h, c = super().pointwise(xp_t, hp_t, carry, extra)
            return (0.5 * h, c)

    class Mixed(Halve, LSTMCell):
        name = "mixed_lstm"

    layer = variants.build("mixed_lstm", INPUT, HIDDEN, backend="bptt")
    with pytest.raises(ValueError, match="overrides pointwise in .*Halve"):
        layer(torch.randn(STEPS, BATCH, INPUT))


def test_a_gru_cho_subclass_overriding_pointwise_is_refused_at_definition():
    """gru_cho's math lives in step(), which never calls pointwise(): such an override would be
    silently ignored, so the class is refused when it is defined."""
    with pytest.raises(TypeError, match="override step"):
        class Ignored(GRUChoCell):
            name = "ignored_gru_cho"

            def pointwise(self, xp_t, hp_t, carry, extra):
                return (xp_t,)
