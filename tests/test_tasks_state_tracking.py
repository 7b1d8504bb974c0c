"""State tracking tasks (parity, cycle navigation, modular arithmetic, S3): targets recomputed
by each task's rule written here, chance levels against Monte Carlo, purity, the curriculum."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import tasks
from tasks.seeds import stream_generator

STATE_TASKS = ["cycle_navigation", "modular_arithmetic", "parity", "s3_word"]
OPS = "+-*"


def _draw(name: str, n: int, length: int, seed: int = 0, **params):
    task = tasks.build(name, length=max(length, 2), **params)
    return task, task.batch(n, torch.Generator().manual_seed(seed), length=length)


# -- targets: each rule written independently, from the input ids ------------------------------


def _parity(bits: list[int]) -> int:
    return bits.count(1) % 2


def _cycle(actions: list[int], m: int) -> int:
    position = 0
    for a in actions:
        position = (position + {0: -1, 1: 0, 2: 1}[a]) % m
    return position


def _expression(ids: list[int], m: int) -> int:
    text = " ".join(str(i) if i < m else OPS[i - m] for i in ids)
    return eval(text) % m  # Python's precedence and its non-negative % are the paper's rules


def _s3(ids: list[int]) -> int:
    perms = list(itertools.permutations(range(3)))
    state = (0, 1, 2)
    for i in ids:
        g = perms[i]
        state = tuple(g[state[j]] for j in range(3))  # g after the product so far
    return perms.index(state)


@pytest.mark.parametrize("length", [1, 2, 7, 12])
def test_targets_follow_each_rule(length: int) -> None:
    for name, rule, extra in [
        ("parity", _parity, {}),
        ("cycle_navigation", lambda s: _cycle(s, 7), {"cycle_length": 7}),
        ("modular_arithmetic", lambda s: _expression(s, 5), {}),
        ("modular_arithmetic", lambda s: _expression(s, 3), {"modulus": 3, "operators": "*-"}),
        ("s3_word", _s3, {}),
    ]:
        task, (x, y, mask) = _draw(name, 64, length, **extra)
        assert x[:, -1].eq(task.n_symbols).all() and mask.all() and y.shape == (64,)
        assert int(x[:, :-1].max()) < task.n_symbols < task.input_size == task.n_symbols + 1
        for row, target in zip(x[:, :-1].tolist(), y.tolist(), strict=True):
            assert target == rule(row), (name, row)


def test_modular_arithmetic_layout_is_the_papers() -> None:
    task, (x, _, _) = _draw("modular_arithmetic", 200, 8)  # even: 7 expression steps
    assert x.shape == (200, 8)
    expression = x[:, :-1]
    assert expression[:, 0::2].lt(5).all() and expression[:, 1::2].ge(5).all()
    assert set(expression[:, 1::2].unique().tolist()) == {5, 6, 7}  # +, -, * as theirs
    only_sum = tasks.build("modular_arithmetic", operators="+")
    ops = only_sum.batch(50, torch.Generator(), length=9)[0][:, 1:-1:2]
    assert set(ops.unique().tolist()) == {5}
    assert (_expression([1, 5, 2, 7, 3], 5), _expression([1, 6, 1, 6, 1], 5)) == (2, 4)  # paper


def test_s3_product_order_is_g1_applied_first() -> None:
    perms = list(itertools.permutations(range(3)))
    a, b = perms.index((1, 0, 2)), perms.index((0, 2, 1))  # two transpositions
    task = tasks.build("s3_word", length=2)
    y = task._labels(torch.tensor([[a, b], [b, a]]))
    # apply (1 0 2) then (0 2 1): 0 -> 1 -> 2, 1 -> 0 -> 0, 2 -> 2 -> 1
    assert y.tolist() == [perms.index((2, 0, 1)), perms.index((1, 2, 0))]


# -- chance levels: exact distributions against Monte Carlo -------------------------------------


@pytest.mark.parametrize(
    "name, length, params",
    [
        ("parity", 1, {}), ("parity", 6, {}),
        ("cycle_navigation", 1, {}), ("cycle_navigation", 3, {}), ("cycle_navigation", 40, {}),
        ("modular_arithmetic", 3, {}), ("modular_arithmetic", 6, {}),
        ("modular_arithmetic", 9, {"modulus": 4, "operators": "*"}),
        ("s3_word", 1, {}), ("s3_word", 5, {}),
    ],
)  # fmt: skip
def test_class_distribution_and_baselines_match_monte_carlo(name, length, params) -> None:
    n = 40_000
    task, (x, y, mask) = _draw(name, n, length, seed=1, **params)
    p = task.target_distribution(length)
    freq = np.bincount(y.numpy(), minlength=task.output_size) / n
    assert p.sum() == pytest.approx(1.0)
    assert np.abs(freq - p).max() < 4.5 * np.sqrt(p * (1 - p) / n).max() + 1e-12
    # The best constant prediction's cross-entropy, through the task's own loss: its baseline.
    logits = torch.log(torch.tensor(p).clamp_min(1e-300)).float().expand(n, -1)
    mc_loss = float(task.loss(logits, y, mask))
    se = float((-torch.log(torch.tensor(p)))[y].std()) / math.sqrt(n)
    assert mc_loss == pytest.approx(task.baseline(length), abs=4.5 * se + 1e-6)
    assert task.chance_accuracy(length) == pytest.approx(freq.max(), abs=4.5 / math.sqrt(n))


def test_chance_levels_at_known_values() -> None:
    cycle = tasks.build("cycle_navigation")
    assert cycle.baseline(1) == pytest.approx(math.log(3))  # positions 4, 0, 1
    assert cycle.baseline() == pytest.approx(math.log(5), abs=1e-9)  # L = 40: uniform
    arith = tasks.build("modular_arithmetic")
    # n1 op n2: P(0) = (1/5 + 1/5 + 9/25) / 3 for +, -, * (a product of residues mod 5)
    assert arith.chance_accuracy(3) == pytest.approx((0.2 + 0.2 + 0.36) / 3)
    assert arith.baseline(4) == arith.baseline(3)  # even lengths use L - 1 steps
    assert tasks.build("parity").baseline(17) == pytest.approx(math.log(2))
    assert tasks.build("s3_word").baseline(3) == pytest.approx(math.log(6))


# -- purity and the curriculum --------------------------------------------------------------------


@pytest.mark.parametrize("name", STATE_TASKS)
def test_batches_are_a_pure_function_of_seed_and_index(name: str) -> None:
    task = tasks.build(name, length=12, min_length=3)
    a = tasks.TaskDataModule(task, batch_size=16, seed=5)
    b = tasks.TaskDataModule(tasks.build(name, length=12, min_length=3), batch_size=16, seed=5)
    for k in (0, 1, 7):
        for left, right in zip(a.train_batch(k), b.train_batch(k), strict=True):
            assert torch.equal(left, right)
    assert not torch.equal(a.train_batch(0)[1], a.train_batch(1)[1]) or not torch.equal(
        a.train_batch(0)[0], a.train_batch(1)[0]
    )
    # the same draws as the task's own training_batch on the train stream's generator
    x, _, _ = task.training_batch(16, stream_generator(5, "train", 3))
    assert torch.equal(x, a.train_batch(3)[0])


def test_curriculum_draws_one_uniform_length_per_batch() -> None:
    task = tasks.build("parity", length=8, min_length=3)
    assert task.training_lengths() == (3, 8)
    data = tasks.TaskDataModule(task, batch_size=4, seed=0)
    lengths = [data.train_batch(k)[0].shape[1] - 1 for k in range(1200)]
    counts = np.bincount(lengths, minlength=9)[3:]
    assert counts.sum() == 1200 and (counts > 0).all()  # only 3..8, each drawn
    expected = 1200 / 6
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.5  # chi-square, 5 degrees of freedom: P(> 20.5) < 0.001
    # validation, diagnostics and the default test set are at the maximum length
    assert data.fixed_set("val")[0].shape[1] == 9
    assert task.batch(2, torch.Generator())[0].shape[1] == 9
    fixed = tasks.build("parity", length=8, min_length=8)
    assert fixed.training_lengths() == (8, 8)
    assert torch.equal(  # no curriculum: exactly the batch of `batch`, no extra draw
        fixed.training_batch(4, torch.Generator().manual_seed(1))[0],
        fixed.batch(4, torch.Generator().manual_seed(1))[0],
    )


def test_bad_curriculum_settings_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match=r"^parity: min_length must be in \[1, length=5\], got 6$"):
        tasks.build("parity", length=5, min_length=6)
    with pytest.raises(ValueError, match=r"^parity: min_length must be an integer >= 1, got 0$"):
        tasks.build("parity", min_length=0)
    with pytest.raises(ValueError, match=r"^train_size must be null for s3_word with a length cur"):
        tasks.TaskDataModule(tasks.build("s3_word", length=6), batch_size=4, train_size=8)
    with pytest.raises(ValueError, match=r"^modular_arithmetic: operators must be a non-empty"):
        tasks.build("modular_arithmetic", operators="+/")


def test_solved_acc_null_never_stops_but_needs_the_metric() -> None:
    task = tasks.build("parity", solved_acc=None)
    assert task.solved({"acc": 1.0, "loss": 0.0}) is False
    with pytest.raises(ValueError, match="needs metric 'acc'"):
        task.solved({"loss": 0.0})
    assert tasks.build("parity").solved({"acc": 0.99}) is True


def test_marked_positions_are_the_first_symbol_and_the_query() -> None:
    task, (x, y, mask) = _draw("s3_word", 3, 9)
    inputs, readout = task.relevant_positions(x, y, mask)
    assert inputs.tolist() == [[0]] * 3 and readout.tolist() == [9] * 3
