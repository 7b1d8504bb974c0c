"""Task helpers against their documented contract: the value checks at their bounds (inclusive)
and their one-line messages, the params a task records, the multiplication problem's marker
forms (H&S 1997 exp. 5 "original": -1 on the first and last step, the second marker in the
first half; "modern": one marker in each half), and `relevant_positions` shapes with a batch
size different from the length (so rows and steps cannot be confused)."""

from __future__ import annotations

import re

import pytest
import torch

import tasks
from tasks.base import check_float, check_int


def test_check_int_bounds_are_inclusive_and_named() -> None:
    assert check_int("t", "k", 5, low=1, high=5) == 5
    assert check_int("t", "k", 1, low=1, high=5) == 1
    with pytest.raises(ValueError, match=r"^t: k must be an integer in \[1, 5\], got 6$"):
        check_int("t", "k", 6, low=1, high=5)
    with pytest.raises(ValueError, match=r"^t: k must be an integer >= 1, got 0$"):
        check_int("t", "k", 0, low=1)


def test_check_float_bounds_are_inclusive_and_refuse_booleans() -> None:
    assert check_float("t", "x", 0.0, 0.0, 1.0) == 0.0
    assert check_float("t", "x", 1.0, 0.0, 1.0) == 1.0
    with pytest.raises(ValueError, match=r"^t: x must be a number in \[0.0, 1.0\], got True$"):
        check_float("t", "x", True, 0.0, 1.0)


def test_a_task_records_its_length_and_names_its_parameters() -> None:
    task = tasks.build("adding", length=7)
    assert task.params["length"] == 7
    assert repr(task) == ("Adding(length=7, form='modern', tolerance=0.04, "
                          "solved_norm_mse=0.05, solved_tol_acc=None)")  # fmt: skip


def test_solved_names_the_missing_metric_and_what_it_got() -> None:
    task = tasks.build("adding", length=7)
    message = "adding: solved() needs metric 'mse'; got none"
    with pytest.raises(ValueError, match=re.escape(message)):
        task.solved({})


def test_unknown_attribute_of_the_package_is_named() -> None:
    with pytest.raises(AttributeError, match=r"^module 'tasks' has no attribute 'nope'$"):
        tasks.nope  # noqa: B018


def test_multiplication_marker_forms() -> None:
    n, length = 64, 30
    gen = torch.Generator().manual_seed(0)
    x, _, _ = tasks.build("multiplication", length=length, form="modern").batch(n, gen)
    markers = x[..., 1]
    assert torch.all((markers == 1).sum(1) == 2) and torch.all(markers >= 0)
    assert torch.all((markers[:, : length // 2] == 1).sum(1) == 1)  # one in each half
    x, _, _ = tasks.build("multiplication", length=length, form="original").batch(n, gen)
    markers = x[..., 1]
    ones = (markers == 1).nonzero()[:, 1].view(n, 2)
    assert torch.all(ones[:, 1] < length // 2)  # both in the first half
    unmarked_ends = markers[:, [0, -1]] != 1
    assert torch.all(markers[:, [0, -1]][unmarked_ends] == -1)


@pytest.mark.parametrize("name", ["adding", "multiplication", "temporal_order", "selective_copy"])
def test_readout_position_per_row(name: str) -> None:
    task = tasks.build(name, length=20)
    x, y, mask = task.batch(3, torch.Generator().manual_seed(0))
    inputs, readout = task.relevant_positions(x, y, mask)
    assert inputs.shape[0] == 3 and readout.shape == (3,)
    if name == "selective_copy":  # read out after the marker
        assert torch.equal(readout, (x == task.marker).long().argmax(dim=1))
    else:
        assert torch.all(readout == x.shape[1] - 1)
