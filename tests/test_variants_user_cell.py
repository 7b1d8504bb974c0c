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
