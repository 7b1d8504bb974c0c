"""Sampling ranges and generator use of the tasks, checked against their definitions: every
position pair the original adding problem may mark occurs, uniformly (chi-square); selective
copy's marker is its own token; copy's optional branches draw from the given generator only."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

import tasks
from tasks.marked_pairs import marker_positions


def test_original_adding_marks_every_pair_of_the_first_half_uniformly() -> None:
    # H&S 1997 exp. 4 as documented: p1 uniform in [0, 10); p2 uniform over the first T//2
    # steps other than p1. At T = 20 that is the 10 x 9 = 90 ordered pairs (a, b), a != b in
    # [0, 10), each with probability 1/10 * 1/9.
    n, length = 90_000, 20
    p1, p2 = marker_positions(n, length, "original", torch.Generator().manual_seed(0))
    pairs = set(itertools.permutations(range(10), 2))
    counts = {pair: 0 for pair in pairs}
    for a, b in zip(p1.tolist(), p2.tolist(), strict=True):
        assert (a, b) in counts, f"pair ({a}, {b}) is outside the definition"
        counts[(a, b)] += 1
    assert min(counts.values()) > 0  # every allowed pair occurs (p2 reaches T//2 - 1)
    p = stats.chisquare(list(counts.values())).pvalue
    assert p > 1e-3, f"pairs not uniform (chi-square p = {p:.2g})"


def test_selective_copy_markers_are_a_token_of_their_own() -> None:
    # docstring: tokens 0..alphabet-1 are data, `alphabet` is noise, `alphabet + 1` the marker
    alphabet, k, length = 5, 3, 12
    task = tasks.build("selective_copy", length=length, n_copy=k, alphabet=alphabet)
    x, y, mask = task.batch(64, torch.Generator().manual_seed(1))
    assert (x[:, length:] == alphabet + 1).all()  # the K marker steps
    assert (x[:, :length] <= alphabet).all()  # data or noise before them, never the marker
    assert ((x[:, :length] < alphabet).sum(dim=1) == k).all()  # K data tokens
    assert task.input_size == alphabet + 2 and int(x.max()) == alphabet + 1


@pytest.mark.parametrize(
    "params", [{"distinct": True}, {"random_delay": True, "min_delay": 2}],
    ids=["distinct", "random_delay"],
)
def test_copy_branches_draw_from_the_given_generator_only(params: dict) -> None:
    task = tasks.build("copy", length=12, n_copy=3, alphabet=6, **params)
    batches = []
    for global_seed in (0, 1):  # torch's global RNG must not matter
        torch.manual_seed(global_seed)
        batches.append(task.batch(256, torch.Generator().manual_seed(7)))
    for first, second in zip(*batches, strict=True):
        assert torch.equal(first, second)
    other = task.batch(256, torch.Generator().manual_seed(8))
    assert not torch.equal(other[0], batches[0][0])  # and the generator's seed does


@pytest.mark.parametrize(
    ("mse_factor", "tol_acc", "solved"),
    [(0.5, 0.99, True), (0.5, 0.5, False), (2.0, 0.99, False)],
)
def test_adding_with_both_criteria_needs_both(mse_factor: float, tol_acc: float, solved: bool):
    task = tasks.build("adding", length=10, solved_norm_mse=0.05, solved_tol_acc=0.9)
    mse = mse_factor * 0.05 * task.baseline()
    assert task.solved({"mse": mse, "tol_acc": tol_acc}) is solved
