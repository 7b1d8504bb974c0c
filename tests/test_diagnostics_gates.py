"""Cells name their gates: recorded values equal an independent recomputation; math unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import tasks
import variants
from gatebench.diagnostics.snapshot import fixed_batch, snapshot
from gatebench.diagnostics.trace import trace_layer
from gatebench.training.model import SequenceModel
from variants import Cell
from variants.cell import REGISTRY
from variants.recording import recording

B, T, I, H = 3, 7, 4, 5


def _define_cells() -> None:
    """Test cells, defined on demand (not at import) so that other test modules, which
    enumerate `variants.names()`, never see them; the `user_cells` fixture removes them."""

    class UGRNNCell(Cell):
        """The README's user cell (Collins et al. 2017), declaring its update gate g."""

        name = "ugrnn_diag"
        blocks = ("c", "g")
        state_names = ("h",)
        gates = ("g",)
        keep_gate = "g"

        def pointwise(self, xp_t, hp_t, carry, extra):
            c, g = (xp_t + hp_t).chunk(2, 1)
            c, g = torch.tanh(c), torch.sigmoid(g)
            self.record_gates(g=g)
            return (c + g * (carry[0] - c),)

    class LinearCell(Cell):
        """h_t = W x_t + R h_{t-1} + b: identity activation, no gates."""

        name = "linear_diag"
        blocks = ("h",)

        def pointwise(self, xp_t, hp_t, carry, extra):
            return (xp_t + hp_t,)

    class SilentCell(UGRNNCell):
        """Declares g but never records it."""

        name = "silent_diag"

        def pointwise(self, xp_t, hp_t, carry, extra):
            c, g = (xp_t + hp_t).chunk(2, 1)
            return (torch.tanh(c) + torch.sigmoid(g) * carry[0],)


USER_CELLS = ("ugrnn_diag", "linear_diag", "silent_diag")


@pytest.fixture
def user_cells():
    """Register the test cells for one test, then take them out of the registry again."""
    _define_cells()
    yield
    for name in USER_CELLS:
        REGISTRY.pop(name, None)


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, T, I, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _recorded(layer, x):
    return trace_layer(layer, lambda: layer(x)[0].pow(2).sum()).gates


def test_recorded_lstm_gates_equal_torch_lstm_gates_recomputed_from_its_weights() -> None:
    torch.manual_seed(1)
    ref = nn.LSTM(I, H, batch_first=True, dtype=torch.float64)
    layer = variants.build("lstm", I, H, batch_first=True, dtype=torch.float64,
                           backend="reference")
    layer.load_state_dict(ref.state_dict())
    x = _x()
    gates = _recorded(layer, x)
    w_ih, w_hh = ref.weight_ih_l0, ref.weight_hh_l0
    b = ref.bias_ih_l0 + ref.bias_hh_l0
    h = c = torch.zeros(B, H, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            pre_i, pre_f, pre_g, pre_o = (x[:, t] @ w_ih.T + h @ w_hh.T + b).chunk(4, 1)
            i, f, g, o = pre_i.sigmoid(), pre_f.sigmoid(), pre_g.tanh(), pre_o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            for name, want in (("i", i), ("f", f), ("g", g), ("o", o)):
                torch.testing.assert_close(gates[name][:, t], want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(layer(x)[0][:, -1], ref(x)[0][:, -1], rtol=1e-12, atol=1e-12)


def test_recorded_gru_gates_equal_torch_gru_gates() -> None:
    torch.manual_seed(2)
    ref = nn.GRU(I, H, batch_first=True, dtype=torch.float64)
    layer = variants.build("gru", I, H, batch_first=True, dtype=torch.float64)
    layer.load_state_dict(ref.state_dict())
    x = _x(1)
    gates = _recorded(layer, x)
    h = torch.zeros(B, H, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            xr, xz, xn = (x[:, t] @ ref.weight_ih_l0.T + ref.bias_ih_l0).chunk(3, 1)
            hr, hz, hn = (h @ ref.weight_hh_l0.T + ref.bias_hh_l0).chunk(3, 1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            n = (xn + r * hn).tanh()
            h = (1 - z) * n + z * h
            for name, want in (("r", r), ("z", z), ("n", n)):
                torch.testing.assert_close(gates[name][:, t], want, rtol=1e-12, atol=1e-12)


BUILT_IN = sorted(n for n in variants.names() if REGISTRY[n].__module__.startswith("variants."))


@pytest.mark.parametrize("name", [*BUILT_IN, "ugrnn_diag", "linear_diag"])
def test_recording_changes_neither_outputs_nor_gradients(name: str, user_cells) -> None:
    layer = variants.build(name, I, H, batch_first=True, dtype=torch.float64,
                           backend="reference", generator=torch.Generator().manual_seed(3))
    x = _x(2)
    plain, _ = layer(x)
    (plain_grad,) = torch.autograd.grad(plain.sum(), layer.weight_ih_l0)
    with recording(layer.cell) as trace:
        recorded, _ = layer(x)
    (recorded_grad,) = torch.autograd.grad(recorded.sum(), layer.weight_ih_l0)
    assert torch.equal(plain, recorded) and torch.equal(plain_grad, recorded_grad)
    assert len(trace.steps) == T
    assert set(trace.steps[0].gates) == set(layer.cell.gates) | set(layer.cell.candidates)
    assert "step" not in vars(layer.cell) and layer.cell._gate_recorder is None  # restored


def test_cifg_diagnostics_have_forget_equal_one_minus_input() -> None:
    task = tasks.build("adding", length=9)
    model = SequenceModel(task, {"name": "cifg", "hidden_size": 6}, {"name": "adam", "lr": 0.01})
    gates = trace_layer(model.layer, lambda: model(fixed_batch(task, 4)[0]).sum()).gates
    assert torch.equal(gates["f"], 1.0 - gates["i"])
    shot = snapshot(model, task, fixed_batch(task, 4), 0, "init")
    i, f = shot.gate_names.index("i"), shot.gate_names.index("f")
    np.testing.assert_allclose(shot.gate_mean[f], 1.0 - shot.gate_mean[i], rtol=0, atol=1e-7)


def test_constant_gates_are_declared_not_recorded() -> None:
    assert variants.build("nfg", I, H).cell.constant_gates == {"f": 1.0}
    assert variants.build("nig", I, H).cell.gates == ("f", "o")
    assert variants.build("nog", I, H).cell.constant_gates == {"o": 1.0}
    assert variants.build("rnn", I, H).cell.gates == ()


def test_user_cell_declared_gate_is_recorded(user_cells) -> None:
    layer = variants.build("ugrnn_diag", I, H, batch_first=True, dtype=torch.float64)
    x = _x(4)
    gates = _recorded(layer, x)
    assert set(gates) == {"g"}
    w_ih, w_hh = layer.weight_ih_l0, layer.weight_hh_l0
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    h = torch.zeros(B, H, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            c, g = (x[:, t] @ w_ih.T + h @ w_hh.T + b).chunk(2, 1)
            c, g = c.tanh(), g.sigmoid()
            h = g * h + (1 - g) * c
            torch.testing.assert_close(gates["g"][:, t], g, rtol=1e-12, atol=1e-12)


def test_a_declared_gate_never_recorded_is_refused(user_cells) -> None:
    layer = variants.build("silent_diag", I, H, batch_first=True, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"declares 'g' but its step did not record it"):
        _recorded(layer, _x())


def test_recording_on_another_backend_is_refused() -> None:
    layer = variants.build("lstm", I, H, batch_first=True, backend="bptt")
    with recording(layer.cell) as trace:
        layer(_x().float())
    with pytest.raises(RuntimeError, match="reference engine only"):
        trace.check(T)


def test_linear_rnn_gradient_norm_scales_as_a_power_of_a(user_cells) -> None:
    """h_t = a h_{t-1} + W x_t; L = w . h_{T-1}: dL/dh_t = a^(T-1-t) w exactly."""
    a, steps = 0.8, 12
    layer = variants.build("linear_diag", I, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(a * torch.eye(H, dtype=torch.float64))
    w = torch.arange(1.0, H + 1, dtype=torch.float64)
    x = torch.randn(B, steps, I, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    trace = trace_layer(layer, lambda: (layer(x)[0][:, -1] * w).sum())
    assert trace.gates == {}  # a cell without gates still gets gradient flow
    expected = w.norm() * a ** torch.arange(steps - 1, -1, -1, dtype=torch.float64)
    torch.testing.assert_close(trace.grad_norms["h"], expected.expand(B, steps),
                               rtol=1e-13, atol=0.0)


def test_forget_bias_plus_20_retains_everything_minus_20_nothing() -> None:
    """f = sigmoid(+-20 + small) ~ 1 - 2e-9 or 2e-9: the first marker (first half of T = 20)
    is kept ~ entirely, or forgotten after one step."""
    task = tasks.build("adding", length=20)
    retained = {}
    for bias in (20.0, -20.0):
        model = SequenceModel(task, {"name": "lstm", "hidden_size": 6, "forget_bias": bias},
                              {"name": "adam", "lr": 0.01})
        shot = snapshot(model, task, fixed_batch(task, 8), 0, "init")
        assert shot.summary()["saturation_f"] == 1.0  # every forget unit is saturated
        retained[bias] = shot.retention_marked
    assert retained[20.0].shape == (2,) and (retained[20.0] > 1 - 1e-6).all(), retained
    assert retained[-20.0][0] < 1e-7, retained


def test_one_memory_unit_gives_retention_one_over_h_and_is_the_unit_shown() -> None:
    """Forget bias -20 everywhere but +20 in unit 3 (of H = 6): the first marker survives in
    that unit only, so the mean retention over units is 1/6 and the unit traced is unit 3."""
    task = tasks.build("adding", length=20)
    model = SequenceModel(task, {"name": "lstm", "hidden_size": 6, "forget_bias": -20.0},
                          {"name": "adam", "lr": 0.01})
    with torch.no_grad():
        model.layer.bias_ih_l0[6 + 3] += 40.0  # block order i, f, g, o: f starts at H
    batch = fixed_batch(task, 8)
    shot = snapshot(model, task, batch, 0, "init")
    assert shot.retention_marked[0] == pytest.approx(1 / 6, abs=1e-6)
    gates = trace_layer(model.layer, lambda: model(batch[0]).sum()).gates
    np.testing.assert_array_equal(shot.example_keep_unit, gates["f"][0, :, 3].double().numpy())
    assert (shot.example_keep_unit > 1 - 1e-6).all()
