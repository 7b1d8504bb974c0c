"""MQAR (zoology multiquery_ar.py): the layout and labels recomputed from the inputs, the gap law
against numpy's weighted draws without replacement, the baseline, purity, and the tiny
experiment through the real runner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIG_DIR
from omegaconf import OmegaConf

import tasks
from gatebench.train import train
from tasks.mqar import draw_without_replacement, gap_log_weights


def _batch(n: int = 200, seed: int = 0, **params):
    task = tasks.build("mqar", **{"length": 40, "vocab_size": 64, "num_kv_pairs": 5, **params})
    return task, task.batch(n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("random_non_queries", [False, True])
def test_layout_and_labels_follow_zoology(random_non_queries: bool) -> None:
    task, (x, y, mask) = _batch(random_non_queries=random_non_queries)
    v, k, half = 64, 5, 32
    assert x.shape == y.shape == mask.shape == (200, 40) and task.output_size == task.input_size
    for row, target, scored in zip(x.tolist(), y.tolist(), mask.tolist(), strict=True):
        keys, values = row[0 : 2 * k : 2], row[1 : 2 * k : 2]
        assert len(set(keys)) == k and all(1 <= key < half for key in keys)
        assert len(set(values)) == k and all(half <= val < v for val in values)
        lookup = dict(zip(keys, values, strict=True))
        queries = [t for t in range(40) if scored[t]]
        assert len(queries) == k and all(t >= 2 * k and (t - 2 * k) % 2 == 0 for t in queries)
        assert sorted(row[t] for t in queries) == sorted(keys)  # each key asked once
        for t in range(40):
            assert target[t] == (lookup[row[t]] if scored[t] else 0)  # the value, at the query
            if not random_non_queries and t >= 2 * k and not scored[t]:
                assert row[t] == 0


def test_first_gap_follows_the_power_law_and_later_ones_numpys_draws() -> None:
    """The Gumbel-top-k draw against the law of zoology's `np.random.choice(replace=False,
    p=...)`: the first gap's marginal is p exactly; the second is compared with numpy's."""
    space, k, n, a = 12, 3, 30_000, 0.3
    p = a * np.arange(1, space + 1) ** (a - 1)
    p /= p.sum()
    ours = draw_without_replacement(gap_log_weights(space, a), n, k, torch.Generator())
    first = np.bincount(ours[:, 0].numpy(), minlength=space) / n
    assert np.abs(first - p).max() < 4.5 * np.sqrt(p * (1 - p) / n).max()
    rng = np.random.default_rng(0)
    theirs = np.stack([rng.choice(space, size=k, replace=False, p=p) for _ in range(n)])
    for j in range(1, k):
        a_freq = np.bincount(ours[:, j].numpy(), minlength=space) / n
        b_freq = np.bincount(theirs[:, j], minlength=space) / n
        assert np.abs(a_freq - b_freq).max() < 6.5 * np.sqrt(b_freq.max() / n)
    assert (ours.sort(dim=1).values.diff(dim=1) > 0).all()  # without replacement


def test_baseline_is_ln_of_the_value_count_and_monte_carlo_agrees() -> None:
    task, (x, y, mask) = _batch(n=4000, seed=3)
    assert task.baseline() == pytest.approx(math.log(32))
    targets = y[mask]
    freq = np.bincount(targets.numpy(), minlength=64)[32:] / targets.numel()
    assert np.abs(freq - 1 / 32).max() < 4.5 * math.sqrt((1 / 32) / targets.numel())
    # the uniform-over-values prediction through the task's own loss
    logits = torch.full((*y.shape, 64), -1e9)
    logits[..., 32:] = 0.0
    assert float(task.loss(logits, y, mask)) == pytest.approx(task.baseline(), rel=1e-6)
    best_constant = torch.log(torch.tensor(freq, dtype=torch.float64))
    empirical = float(-best_constant[targets - 32].mean())  # the best constant's cross-entropy
    assert empirical == pytest.approx(task.baseline(), abs=0.01)
    metrics = task.metrics(logits, y, mask)
    assert metrics["recall_acc"] < 0.1  # argmax of a uniform head: one fixed value id


def test_batches_are_pure_in_seed_and_index() -> None:
    task = tasks.build("mqar", length=24, vocab_size=32, num_kv_pairs=3)
    a = tasks.TaskDataModule(task, batch_size=8, seed=2)
    b = tasks.TaskDataModule(tasks.build("mqar", length=24, vocab_size=32, num_kv_pairs=3),
                             batch_size=8, seed=2)  # fmt: skip
    for k in (0, 5):
        assert all(
            torch.equal(p, q) for p, q in zip(a.train_batch(k), b.train_batch(k), strict=True)
        )
    assert not torch.equal(a.train_batch(0)[0], a.train_batch(1)[0])


def test_bad_parameters_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match=r"^mqar: num_kv_pairs must be an integer in \[1, 7\]"):
        tasks.build("mqar", vocab_size=16, num_kv_pairs=8)
    with pytest.raises(ValueError, match=r"^mqar: length must be an integer >= 16, got 12$"):
        tasks.build("mqar", length=12, num_kv_pairs=4)
    with pytest.raises(ValueError, match=r"^mqar: power_a must be a number in"):
        tasks.build("mqar", power_a=0.0)


def test_tiny_experiment_trains_through_the_runner(full_config) -> None:
    cfg = full_config("experiment=mqar_tiny", "logger=csv", "threads=1")
    assert (cfg.task.vocab_size, cfg.data.train_size, cfg.trainer.gradient_clip_val) == (
        32,
        256,
        None,
    )
    assert cfg.scheduler.name == "cosine"
    record = train(cfg)
    assert record["status"] in ("finished", "solved"), record["message"]
    assert record["baseline"] == pytest.approx(math.log(16))
    assert record["metric"] == "val/recall_acc" and record["steps"] == 32
    saved = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert saved["test"]["test/norm_loss"] == pytest.approx(
        saved["test"]["test/loss"] / math.log(16)
    )


def test_contract_experiment_composes_with_zoologys_numbers(full_config) -> None:
    cfg = full_config("experiment=mqar")
    assert (cfg.task.vocab_size, cfg.task.length, cfg.task.num_kv_pairs) == (8192, 64, 4)
    assert cfg.task.random_non_queries is False and cfg.data.train_size == 100_000
    passes = cfg.trainer.max_steps / (cfg.data.train_size // cfg.data.batch_size)
    assert passes == 64 and cfg.scheduler.total_steps == cfg.trainer.max_steps
    assert cfg.trainer.val_check_interval == 100_000 // 512
    sweep = OmegaConf.load(CONFIG_DIR / "experiment" / "mqar.yaml").hydra.sweeper.params
    lrs = [float(v) for v in sweep["optimizer.lr"].split(",")]
    assert lrs == pytest.approx(list(np.logspace(-4, -2, 4)), rel=1e-4)
