"""Continual adding (a task that rewards forgetting): targets from the inputs, the 1/6 baseline by
Monte Carlo, the cost of never forgetting, and (slow) the NFG cell failing on longer streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tasks
from gatebench.train import train


def _batch(n: int, length: int = 40, segment_length: int = 10, seed: int = 0):
    task = tasks.build("continual_adding", length=length, segment_length=segment_length)
    return task, task.batch(n, torch.Generator().manual_seed(seed))


def test_each_segment_end_holds_that_segments_sum() -> None:
    task, (x, y, mask) = _batch(50, length=42, segment_length=7)
    assert x.shape == (50, 42, 3) and y.shape == (50, 42, 1) and mask.shape == (50, 42)
    for b in range(50):
        for s in range(6):
            seg = x[b, 7 * s : 7 * s + 7]
            marked = seg[:, 1].nonzero().flatten().tolist()
            assert len(marked) == 2 and marked[0] < 3 <= marked[1]  # one in each half (7 // 2)
            assert seg[:, 2].tolist() == [0.0] * 6 + [1.0]
            ends = mask[b, 7 * s : 7 * s + 7].tolist()
            assert ends == [False] * 6 + [True]
            expected = float(seg[marked[0], 0] + seg[marked[1], 0])
            assert float(y[b, 7 * s + 6, 0]) == pytest.approx(expected)
    assert y[~mask].abs().max() == 0


def test_baseline_and_the_memory_that_never_forgets_by_monte_carlo() -> None:
    task, (x, y, mask) = _batch(20_000, seed=1)
    answers = y[mask].view(-1, 4)  # 4 segment ends per stream
    # the best constant (1) scores Var(U1 + U2) = 1/6
    constant = float(((answers - 1.0) ** 2).mean())
    assert constant == pytest.approx(task.baseline(), abs=4.5 * 0.0745 / np.sqrt(answers.numel()))
    # a memory that adds every marked value and never empties (an f = 1 cell that never learned
    # to subtract) answers the running total: E[err^2] at end s = s/6 + s^2 (the old sums' mean
    # and variance), mean over s = 0..3: (0 + 7/6 + 26/6 + 57/6) / 4 = 15/4
    running = answers.cumsum(dim=1)
    never_forgets = float(((running - answers) ** 2).mean())
    assert never_forgets == pytest.approx(15 / 4, rel=0.03)
    assert task.metrics(torch.ones_like(y), y, mask)["mse"] == pytest.approx(constant, rel=1e-5)


def test_batches_are_pure_and_a_partial_segment_holds_no_problem() -> None:
    a = _batch(8, seed=3)[1]
    b = _batch(8, seed=3)[1]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    task = tasks.build("continual_adding", length=40, segment_length=10)
    assert task.batch(2, torch.Generator(), length=100)[0].shape[1] == 100
    x, y, mask = task.batch(2, torch.Generator(), length=47)  # 4 problems, 7 steps unanswered
    assert mask.sum(dim=1).tolist() == [4, 4] and x[:, 40:, 1:].abs().sum() == 0
    with pytest.raises(ValueError, match=r"^continual_adding: length must be an integer >= 10"):
        tasks.build("continual_adding", length=5, segment_length=10)
    inputs, readout = task.relevant_positions(*_batch(3)[1])
    assert inputs.shape == (3, 2) and bool((inputs < 10).all()) and readout.tolist() == [9] * 3


@pytest.mark.slow
def test_nfg_solves_the_training_stream_but_drifts_on_longer_ones(tiny_config, tmp_path) -> None:
    """Measured (1 thread, load ~2): both cells solve 4 segments of 10 steps; on streams of 200
    segments the LSTM stays near its training error while the NFG's error grows (seeds 0, 1:
    norm_loss 0.018 / 0.039 against 0.14 / 1.08)."""
    common = [
        "task=continual_adding", "task.length=40", "task.segment_length=10",
        "variant.hidden_size=16", "data.batch_size=32", "optimizer.lr=0.01",
        "trainer.max_steps=1500", "trainer.val_check_interval=100", "data.val_size=256",
        "data.test_size=256", "data.test_lengths=[2000]", "diagnostics.enabled=false",
    ]  # fmt: skip
    for seed in (0, 1):
        long = {}
        for variant in ("lstm", "nfg"):
            run_dir = Path(tmp_path) / f"{variant}{seed}"
            record = train(tiny_config(*common, f"variant={variant}", f"seed={seed}",
                                       run_dir=run_dir))  # fmt: skip
            assert record["status"] == "solved"
            long[variant] = record["tests"]["2000"]["test/norm_loss"]
        assert long["lstm"] < 0.1 and long["nfg"] > 3 * long["lstm"]
