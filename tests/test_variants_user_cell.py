"""A user-defined cell is one class plus one registry line (README example), and it trains."""

from __future__ import annotations

import pytest
import torch

import variants
from variants import Cell
from variants.cell import REGISTRY


def define_user_cell() -> type[Cell]:
    """The README's example cell. Defined on demand, not at import, so the registry that other
    test modules see (collected before this one runs) never holds it."""

    class UGRNNCell(Cell):
        """Update-gate RNN (Collins et al. 2017): c = tanh(.), g = s(.), h = g*h_prev + (1-g)*c."""

        name = "ugrnn"  # the registry line
        blocks = ("c", "g")
        state_names = ("h",)

        def pointwise(self, xp_t, hp_t, carry, extra):
            c, g = (xp_t + hp_t).chunk(2, 1)
            c, g = torch.tanh(c), torch.sigmoid(g)
            return (c + g * (carry[0] - c),)

    return UGRNNCell


@pytest.fixture(autouse=True)
def user_cell():
    """Register the user cell for one test, then take it out of the registry again."""
    cls = define_user_cell()
    yield cls
    REGISTRY.pop("ugrnn", None)


def test_user_cell_is_registered_and_follows_its_equations() -> None:
    assert "ugrnn" in variants.names()
    layer = variants.build("ugrnn", 3, 5, dtype=torch.float64, bidirectional=True)
    assert layer.weight_hh_l0_reverse.shape == (10, 5)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    out, h_n = layer(x)
    h = torch.zeros(2, 5, dtype=torch.float64)
    W, R = layer.weight_ih_l0, layer.weight_hh_l0
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    for t in range(4):
        c, g = (x[t] @ W.T + h @ R.T + b).chunk(2, 1)
        h = torch.sigmoid(g) * h + (1 - torch.sigmoid(g)) * torch.tanh(c)
    torch.testing.assert_close(out[-1, :, :5], h, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)


def test_user_cell_trains() -> None:
    g = torch.Generator().manual_seed(0)
    layer = variants.build("ugrnn", 2, 8, batch_first=True, generator=g)
    readout = torch.nn.Linear(8, 1)
    x = torch.randn(16, 10, 2, generator=g)
    y = x[:, 0, :1]  # remember the first step
    optimizer = torch.optim.Adam([*layer.parameters(), *readout.parameters()], lr=0.05)
    before = layer.weight_hh_l0.detach().clone()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(readout(layer(x)[0][:, -1]), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert not torch.equal(before, layer.weight_hh_l0)
    assert losses[-1] < 0.5 * losses[0]


class UGRNNKernel:
    """A user's hand-written BPTT kernel for the UGRNN (the `bptt` backend's protocol)."""

    n_state = 1
    gate_blocks = 2
    overwrites = ("gates",)  # backward writes d(pre-activation) over the gates

    def forward(self, xp, state0, weights):
        (w_hh,) = weights
        steps, batch, gh = xp.shape
        hidden = gh // 2
        hs = xp.new_empty(steps + 1, batch, hidden)
        hs[0] = state0[0]
        for t in range(steps):
            a = xp[t].addmm_(hs[t], w_hh.t())  # the gates, in place in xp
            c, g = a[:, :hidden].tanh_(), a[:, hidden:].sigmoid_()
            torch.addcmul(c, g, hs[t] - c, out=hs[t + 1])
        return hs[1:], (hs[steps].clone(),), {"gates": xp, "hs": hs, "w_hh": w_hh}

    def backward(self, saved, d_out, d_final):
        gates, hs, w_hh = saved["gates"], saved["hs"], saved["w_hh"]
        steps, hidden = hs.shape[0] - 1, hs.shape[2]
        dh = d_out[steps - 1] + d_final[0]
        for t in range(steps - 1, -1, -1):
            c, g = gates[t, :, :hidden], gates[t, :, hidden:]
            d_c = dh * (1 - g) * (1 - c * c)
            d_g = dh * (hs[t] - c) * g * (1 - g)
            carry = dh * g
            c.copy_(d_c)
            g.copy_(d_g)
            dh = torch.addmm(carry, gates[t], w_hh)
            if t > 0:
                dh = dh + d_out[t - 1]
        d_w = gates.reshape(-1, 2 * hidden).t() @ hs[:-1].reshape(-1, hidden)
        return gates, (dh,), (d_w,)


def test_user_cell_with_its_own_bptt_kernel_matches_the_reference(user_cell) -> None:
    user_cell.bptt_kernel = lambda self: UGRNNKernel()
    user_cell.bptt_weights = lambda self, weights: (weights.weight_hh,)
    gen = torch.Generator().manual_seed(1)
    layer = variants.build("ugrnn", 3, 5, dtype=torch.float64, bidirectional=True, generator=gen)
    x = torch.randn(7, 2, 3, dtype=torch.float64, generator=gen)
    h0 = torch.randn(2, 2, 5, dtype=torch.float64, generator=gen)
    results = {}
    for backend in ("reference", "bptt"):
        layer.backend = backend
        layer.zero_grad()
        xs, hs = x.clone().requires_grad_(), h0.clone().requires_grad_()
        out, h_n = layer(xs, hs)
        (out.pow(2).sum() + h_n.sum()).backward(retain_graph=True)
        results[backend] = [out, h_n, xs.grad, hs.grad] + [p.grad for p in layer.parameters()]
    for a, b in zip(results["bptt"], results["reference"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
