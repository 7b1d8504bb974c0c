"""Each task's targets, recomputed independently from its generated inputs."""

from __future__ import annotations

import pytest
import torch

import tasks
from tasks.temporal_order import windows

N = 2_000


def draw(name: str, seed: int = 0, **params) -> tuple[tasks.Task, tuple[torch.Tensor, ...]]:
    task = tasks.build(name, **params)
    return task, task.batch(N, torch.Generator().manual_seed(seed))


def marked(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions (N, 2), values (N, 2)) of the two steps whose marker channel is 1."""
    is_marked = x[..., 1] == 1.0
    assert (is_marked.sum(dim=1) == 2).all()
    positions = is_marked.nonzero()[:, 1].view(-1, 2)
    return positions, x[..., 0].gather(1, positions)


@pytest.mark.parametrize("length", [2, 9, 100])
def test_adding_modern_target_is_sum_of_marked_values(length: int) -> None:
    _, (x, y, mask) = draw("adding", length=length)
    positions, values = marked(x)
    assert (positions[:, 0] < length // 2).all() and (positions[:, 1] >= length // 2).all()
    assert ((x[..., 0] >= 0) & (x[..., 0] <= 1)).all()
    torch.testing.assert_close(y[:, 0], values.sum(dim=1))
    assert mask.all()


@pytest.mark.parametrize("length", [11, 100])
def test_adding_original_layout_and_target(length: int) -> None:
    _, (x, y, _) = draw("adding", length=length, form="original")
    positions, values = marked(x)
    # p1 among the first ten steps, p2 among the first T/2 - 1 unmarked ones (<= T/2 - 1)
    assert (positions[:, 0] <= min(9, length // 2 - 1)).all()
    assert (positions[:, 1] <= max(9, length // 2 - 1)).all()
    assert ((x[..., 0] >= -1) & (x[..., 0] <= 1)).all()
    for end in (0, -1):  # -1 marks the first and last steps unless marked
        assert ((x[:, end, 1] == -1) | (x[:, end, 1] == 1)).all()
    inner = x[:, 1:-1, 1]
    assert ((inner == 0) | (inner == 1)).all()
    torch.testing.assert_close(y[:, 0], 0.5 + values.sum(dim=1) / 4)


def test_original_forms_zero_or_one_x1_when_first_step_marked() -> None:
    """H&S 1997: X1 := 0 (adding) or 1 (multiplication) when the first step is marked.

    Step 0 is marked by the first marker with probability 1/10 and by the second with
    probability (9/10) / (T/2 - 1); so given step 0 is marked, its value is the rule's constant
    at least (1/10) / (1/10 + 9/490) = 84% of the time at T = 100, and never exactly so
    otherwise.
    """
    for name, constant in (("adding", 0.0), ("multiplication", 1.0)):
        _, (x, _, _) = draw(name, length=100, form="original")
        first_marked = x[:, 0, 1] == 1
        share = (x[first_marked, 0, 0] == constant).float().mean().item()
        assert 0.7 < share < 1.0, (name, share)


@pytest.mark.parametrize("form", ["original", "modern"])
def test_multiplication_target_is_product_of_marked_values(form: str) -> None:
    _, (x, y, _) = draw("multiplication", length=50, form=form)
    _, values = marked(x)
    assert ((x[..., 0] >= 0) & (x[..., 0] <= 1)).all()
    torch.testing.assert_close(y[:, 0], values.prod(dim=1))


@pytest.mark.parametrize("length", [1, 7, 100])
def test_copy_last_targets_repeat_first_inputs(length: int) -> None:
    task, (x, y, mask) = draw("copy", length=length)
    assert x.shape == y.shape == (N, length + 20)
    assert torch.equal(y[:, -10:], x[:, :10])
    assert (x[:, :10] < 8).all()
    assert (y[:, :-10] == task.blank).all()
    assert (x[:, length + 9] == task.delimiter).all()  # T - 1 blanks after the data
    assert (x[:, 10 : length + 9] == task.blank).all() and (x[:, -10:] == task.blank).all()
    assert mask.all()


def test_copy_random_delay_recall_follows_delimiter() -> None:
    task, (x, y, mask) = draw("copy", length=30, random_delay=True, min_delay=4, loss_on="recall")
    assert x.shape == (N, 50)
    delimiter_at = (x == task.delimiter).nonzero()
    assert torch.equal(delimiter_at[:, 0], torch.arange(N))  # exactly one delimiter per row
    delay = delimiter_at[:, 1] - 10 + 1
    assert delay.min() == 4 and delay.max() == 30  # delays cover [min_delay, T]
    recall_at = delimiter_at[:, 1:] + 1 + torch.arange(10)
    assert torch.equal(y.gather(1, recall_at), x[:, :10])
    assert mask.sum(dim=1).eq(10).all() and mask.gather(1, recall_at).all()
    assert (y[~mask] == task.blank).all()


def test_copy_distinct_symbols_are_all_different() -> None:
    _, (x, y, _) = draw("copy", length=5, n_copy=8, distinct=True)
    assert torch.equal(x[:, :8].sort(dim=1).values, torch.arange(8).expand(N, 8))
    assert torch.equal(y[:, -8:], x[:, :8])


@pytest.mark.parametrize("relevant,length", [(2, 10), (2, 100), (3, 10), (3, 100), (3, 257)])
def test_temporal_order_class_matches_symbol_order(relevant: int, length: int) -> None:
    _, (x, y, _) = draw("temporal_order", length=length, relevant=relevant)
    assert (x[:, 0] == 7).all() and (x[:, -1] == 6).all()  # E first, B (trigger) last
    is_xy = (x == 4) | (x == 5)
    assert (is_xy.sum(dim=1) == relevant).all()
    steps = is_xy.nonzero()[:, 1].view(N, relevant)
    for k, (lo, hi) in enumerate(windows(length, relevant)):
        assert lo >= 1 and hi <= length - 2
        assert steps[:, k].min() == lo and steps[:, k].max() == hi  # whole window, no more
    symbols = ["".join("XY"[s - 4] for s in row) for row in x.gather(1, steps).tolist()]
    order = [format(c, f"0{relevant}b").replace("0", "X").replace("1", "Y") for c in y.tolist()]
    assert symbols == order
    assert set(y.tolist()) == set(range(2**relevant))


def test_temporal_order_windows_at_paper_length() -> None:
    assert windows(100, 2) == [(10, 20), (50, 60)]
    assert windows(100, 3) == [(10, 20), (33, 43), (66, 76)]


def test_selective_copy_targets_are_data_tokens_in_order() -> None:
    task, (x, y, mask) = draw("selective_copy", length=40, n_copy=16)
    assert x.shape == y.shape == mask.shape == (N, 56)
    body = x[:, :40]
    is_data = body < task.params["alphabet"]
    assert (is_data.sum(dim=1) == 16).all()
    assert ((body == task.blank) | is_data).all()
    assert (x[:, 40:] == task.marker).all()
    assert torch.equal(y[:, 40:], body[is_data].view(N, 16))
    assert mask[:, 40:].all() and not mask[:, :40].any()
    # positions are spread over the whole body, not bunched at its start
    first_data = is_data.float().argmax(dim=1)
    assert first_data.max() > 10
