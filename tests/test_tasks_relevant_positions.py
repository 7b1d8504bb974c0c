"""`Task.relevant_positions`: where the answer comes from, checked against the targets."""

from __future__ import annotations

import torch

import tasks


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(7)


def test_adding_markers_hold_the_summed_values() -> None:
    for form in ("modern", "original"):
        task = tasks.build("adding", length=30, form=form)
        x, y, mask = task.batch(50, _gen())
        inputs, readout = task.relevant_positions(x, y, mask)
        values = x[..., 0].gather(1, inputs)
        want = values.sum(1, keepdim=True)
        want = want if form == "modern" else 0.5 + want / 4
        torch.testing.assert_close(want, y)
        assert (readout == 29).all() and (inputs[:, 0] < inputs[:, 1]).all()


def test_copy_data_steps_are_recalled_after_the_readout() -> None:
    task = tasks.build("copy", length=15, random_delay=True, min_delay=3)
    x, y, mask = task.batch(40, _gen())
    inputs, readout = task.relevant_positions(x, y, mask)
    recalled = y.gather(1, readout[:, None] + torch.arange(10))
    assert torch.equal(recalled, x.gather(1, inputs))
    assert (y.gather(1, readout[:, None] - 1) == task.blank).all()  # nothing recalled before


def test_temporal_order_and_selective_copy_positions() -> None:
    task = tasks.build("temporal_order", length=40, relevant=3)
    x, y, mask = task.batch(40, _gen())
    inputs, readout = task.relevant_positions(x, y, mask)
    is_y = (x.gather(1, inputs) == 5).long()
    assert torch.equal((is_y * torch.tensor([4, 2, 1])).sum(1), y) and (readout == 39).all()
    task = tasks.build("selective_copy", length=30, n_copy=4, alphabet=6)
    x, y, mask = task.batch(40, _gen())
    inputs, readout = task.relevant_positions(x, y, mask)
    assert torch.equal(x.gather(1, inputs), y[:, 30:]) and (readout == 30).all()
