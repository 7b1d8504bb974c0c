"""Property-based (Hypothesis) checks of the existing tasks (issue 25): training batch k of a
seed is a pure function of (seed, k), and its targets follow from its inputs by the task's
rule, recomputed here from the inputs alone (adding, multiplication, copy, selective copy,
temporal order; the rules as the tasks' docstrings and their papers state them)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tasks

LEAN = settings(max_examples=12, deadline=None, derandomize=True)


def _check_marked_pair(name: str, params: dict, x: torch.Tensor, y: torch.Tensor) -> None:
    """Adding / multiplication: exactly two steps marked 1 in channel 1, target from their
    values (modern: X1 + X2 and X1 X2; original, H&S 1997 exp. 4: 0.5 + (X1 + X2) / 4 and
    X1 X2; its X1 := 0 (adding) or 1 (multiplication) when the first marker falls on step 0 is
    written into the input value itself, so the rule holds on the inputs as given)."""
    values, markers = x[..., 0], x[..., 1]
    marked = markers == 1
    assert (marked.sum(dim=1) == 2).all()
    length = x.shape[1]
    first = marked.float().argmax(dim=1)
    second = length - 1 - marked.flip(1).float().argmax(dim=1)
    half = length // 2
    if params["form"] == "modern":
        assert (first < half).all() and (second >= half).all()
        others = markers.clone()
        others[marked] = 0
        assert (others == 0).all()
    else:
        assert (first < 10).all() and (second < half).all()
        for step in (0, length - 1):  # -1 on the first and last steps unless marked
            assert ((markers[:, step] == -1) | marked[:, step]).all()
    x1 = values.gather(1, first[:, None]).squeeze(1)
    x2 = values.gather(1, second[:, None]).squeeze(1)
    if name == "adding":
        expected = 0.5 + (x1 + x2) / 4 if params["form"] == "original" else x1 + x2
    else:
        expected = x1 * x2
    torch.testing.assert_close(y.reshape(-1), expected, rtol=1e-6, atol=1e-6)


def _check_copy(task, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> None:
    """Copy (Arjovsky et al. 2016): K data symbols, blanks, one delimiter, K blanks; the
    target is blank except the K steps right after the delimiter, which hold the data."""
    p = task.params
    k, blank, delimiter = p["n_copy"], p["alphabet"], p["alphabet"] + 1
    assert x.shape[1] == task.length + 2 * k
    data = x[:, :k]
    assert (data < p["alphabet"]).all()
    is_delimiter = x == delimiter
    assert (is_delimiter.sum(dim=1) == 1).all()
    at = is_delimiter.float().argmax(dim=1)
    for b in range(x.shape[0]):
        d = int(at[b])
        rest = torch.cat([x[b, k:d], x[b, d + 1 :]])
        assert (rest == blank).all()
        expected = torch.full_like(y[b], blank)
        expected[d + 1 : d + 1 + k] = data[b]
        assert torch.equal(y[b], expected)
        if p["random_delay"]:  # the delay d from [min_delay, T]: the delimiter at K + d - 1
            assert k + p["min_delay"] - 1 <= d <= k + task.length - 1
        else:
            assert d == k + task.length - 1
        recall = torch.zeros_like(mask[b])
        recall[d + 1 : d + 1 + k] = True
        assert torch.equal(mask[b], torch.ones_like(recall) if p["loss_on"] == "all" else recall)
        if p["distinct"]:
            assert len(set(data[b].tolist())) == k


def _check_selective_copy(task, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> None:
    """Selective copy (Gu & Dao 2023): K data tokens among T noise steps, then K markers; the
    targets at the markers are the data tokens in order of position, noise elsewhere."""
    p = task.params
    k, length, noise, marker = p["n_copy"], task.length, p["alphabet"], p["alphabet"] + 1
    assert (x[:, length:] == marker).all()
    for b in range(x.shape[0]):
        data = x[b, :length][x[b, :length] != noise]
        assert data.numel() == k and (data < p["alphabet"]).all()
        assert torch.equal(y[b, length:], data)
    assert (y[:, :length] == noise).all()
    assert (mask[:, length:]).all() and not mask[:, :length].any()


def _check_temporal_order(task, x: torch.Tensor, y: torch.Tensor) -> None:
    """Temporal order (H&S 1997, exp. 6): E first, B last, one X (4) or Y (5) in each window,
    distractors elsewhere; class = the X/Y pattern read as binary (Y = 1, first most
    significant)."""
    relevant, length = task.params["relevant"], task.length
    assert (x[:, 0] == 7).all() and (x[:, -1] == 6).all()
    percent = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}[relevant]
    for b in range(x.shape[0]):
        symbols = torch.nonzero((x[b] == 4) | (x[b] == 5)).flatten()
        assert symbols.numel() == relevant
        code = 0
        for step, (lo, hi) in zip(symbols.tolist(), percent, strict=True):
            assert lo * length // 100 <= step <= hi * length // 100
            code = 2 * code + int(x[b, step] == 5)
        middle = x[b, 1:-1]
        assert ((middle < 4) | (middle == 4) | (middle == 5)).all()
        assert int(y[b]) == code


TASKS = st.one_of(
    st.tuples(st.just("adding"), st.fixed_dictionaries({
        "length": st.integers(22, 40), "form": st.sampled_from(["modern", "original"])})),
    st.tuples(st.just("multiplication"), st.fixed_dictionaries({
        "length": st.integers(22, 40), "form": st.sampled_from(["modern", "original"])})),
    st.tuples(st.just("copy"), st.fixed_dictionaries({
        "length": st.integers(1, 12), "n_copy": st.integers(1, 5), "alphabet": st.integers(5, 9),
        "loss_on": st.sampled_from(["all", "recall"]), "random_delay": st.booleans(),
        "distinct": st.booleans()})),
    st.tuples(st.just("selective_copy"), st.fixed_dictionaries({
        "length": st.integers(6, 20), "n_copy": st.integers(1, 5),
        "alphabet": st.integers(2, 9)})),
    st.tuples(st.just("temporal_order"), st.fixed_dictionaries({
        "length": st.integers(10, 40), "relevant": st.sampled_from([2, 3])})),
)  # fmt: skip


@LEAN
@given(spec=TASKS, seed=st.integers(0, 2**40), k=st.integers(0, 2**31), n=st.integers(1, 4))
def test_batch_k_is_a_pure_function_of_seed_and_k_and_targets_follow_the_rule(
    spec: tuple[str, dict], seed: int, k: int, n: int
) -> None:
    name, params = spec
    task = tasks.build(name, **params)
    batch = tasks.TaskDataModule(task, batch_size=n, seed=seed).train_batch(k)
    again = tasks.TaskDataModule(tasks.build(name, **params), batch_size=n, seed=seed)
    for a, b in zip(batch, again.train_batch(k), strict=True):
        assert torch.equal(a, b)
    x, y, mask = batch
    assert x.shape[0] == y.shape[0] == mask.shape[0] == n
    if name in ("adding", "multiplication"):
        assert mask.all()
        _check_marked_pair(name, task.params, x, y)
    elif name == "copy":
        _check_copy(task, x, y, mask)
    elif name == "selective_copy":
        _check_selective_copy(task, x, y, mask)
    else:
        assert mask.all()
        _check_temporal_order(task, x, y)
