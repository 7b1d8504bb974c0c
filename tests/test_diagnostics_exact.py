"""Diagnostics against closed forms (issue 25): the gradient ratio is taken at the FIRST marked
input (a linear cell: exactly a^(r - t)); retention of a constant keep gate 0.5 is 0.5^(r - t),
1 at the readout step and NaN after it; the "best kept unit" multiplies the keep gates of steps
first + 1 .. readout exactly (units built so that any window off by one picks another unit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tasks
from gatebench.diagnostics import measures
from gatebench.diagnostics.snapshot import fixed_batch, snapshot
from gatebench.training.model import SequenceModel
from variants import Cell
from variants.cell import REGISTRY


@pytest.fixture
def linear_cell():
    """h_t = W x_t + R h_{t-1} + b (identity, no gates), registered for one test only."""

    class LinearExactCell(Cell):
        name = "linear_exact"
        blocks = ("h",)

        def pointwise(self, xp_t, hp_t, carry, extra):
            return (xp_t + hp_t,)

    yield LinearExactCell.name
    REGISTRY.pop(LinearExactCell.name, None)


def test_gradient_ratio_is_taken_at_the_first_marked_input(linear_cell: str) -> None:
    """R = a I and a last-step readout: dL/dh_t = a^(T-1-t) dL/dh_{T-1}, so the ratio of each
    sequence is a^(T-1-p1) with p1 its first marker (read from the input's marker channel);
    the snapshot keeps the median over the batch."""
    a, length = 0.9, 12
    task = tasks.build("adding", length=length)
    torch.manual_seed(0)
    model = SequenceModel(task, {"name": linear_cell, "hidden_size": 4}, {"name": "adam"})
    with torch.no_grad():
        model.layer.weight_hh_l0.copy_(a * torch.eye(4))
    batch = fixed_batch(task, 16)
    markers = batch[0][:, :, 1] == 1
    first = markers.float().argmax(dim=1).numpy()  # the first step marked 1
    last = length - 1 - markers.flip(1).float().argmax(dim=1).numpy()
    assert (first < last).all()
    shot = snapshot(model, task, batch, 0, "init")
    expected = np.median(a ** (length - 1 - first))
    assert shot.grad_ratio["h"] == pytest.approx(expected, rel=1e-4)
    assert np.median(a ** (length - 1 - last)) != pytest.approx(expected, rel=1e-2)


def test_retention_of_a_constant_keep_gate_is_a_power_of_it() -> None:
    keep = torch.full((4, 10, 3), 0.5, dtype=torch.float64)
    readout = torch.tensor([3, 7, 0, 9])
    got = measures.retention(keep, readout).numpy()
    for b, r in enumerate(readout.tolist()):
        steps = np.arange(10)
        np.testing.assert_allclose(got[b, : r + 1], 0.5 ** (r - steps[: r + 1]), rtol=1e-12)
        assert got[b, r] == pytest.approx(1.0, abs=1e-12)  # nothing decays at the readout
        assert np.isnan(got[b, r + 1 :]).all()


def test_best_kept_unit_multiplies_the_keep_gates_after_first_up_to_the_readout() -> None:
    """first = 2, readout = 6: the window is steps 3..6. Unit 2 keeps 0.9 there (product 0.66)
    and 0.01 at steps 2 and 7; unit 0 keeps 0.85 everywhere (0.52: best if step 2 or 7 were
    in the window); unit 1 keeps 1 at 3..5 and 0.5 at 6 (best if 6 were left out); unit 3
    keeps 0.5 at 3 and 1 at 4..6 (best if 3 were left out)."""
    steps, first, readout = 10, 2, 6
    keep = torch.full((steps, 4), 0.5, dtype=torch.float64)
    keep[:, 0] = 0.85
    keep[3:7, 2] = 0.9
    keep[3:6, 1] = 1.0
    keep[4:7, 3] = 1.0
    for unit in (1, 2, 3):
        keep[[first, readout + 1], unit] = 0.01
    products = keep[first + 1 : readout + 1].prod(dim=0)
    assert int(products.argmax()) == 2
    for window in (slice(2, 7), slice(3, 8), slice(3, 6), slice(4, 7)):  # off by one
        assert int(keep[window].prod(dim=0).argmax()) != 2
    np.testing.assert_array_equal(measures.best_kept_unit(keep, first, readout), keep[:, 2].numpy())
