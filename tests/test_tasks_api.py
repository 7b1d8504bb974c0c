"""The tasks contract: registry, shapes and dtypes, parameter errors, loss, metrics, solved()."""

from __future__ import annotations

import json

import pytest
import torch

import tasks

SMALL = {
    "adding": {"length": 12},
    "copy": {"length": 6},
    "multiplication": {"length": 12},
    "selective_copy": {"length": 24, "n_copy": 4},
    "temporal_order": {"length": 12},
    "parity": {"length": 6, "min_length": 2},
    "cycle_navigation": {"length": 6},
    "modular_arithmetic": {"length": 7},
    "s3_word": {"length": 6},
    "mqar": {"length": 16, "vocab_size": 32, "num_kv_pairs": 2},
    "continual_adding": {"length": 10, "segment_length": 5},
}


def test_names_are_the_contracts() -> None:
    assert tasks.names() == [
        "adding", "continual_adding", "copy", "cycle_navigation", "modular_arithmetic", "mqar",
        "multiplication", "parity", "s3_word", "selective_copy", "temporal_order",
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(SMALL))
def test_batch_shapes_and_attributes_follow_contract(name: str) -> None:
    task = tasks.build(name, **SMALL[name])
    assert task.name == name
    assert json.loads(json.dumps(task.params)) == task.params
    assert task.params["length"] == task.length == SMALL[name]["length"]
    assert task.input_kind in ("tokens", "real") and task.target_kind in ("class", "real")
    assert task.readout in ("last", "every") and task.primary_mode in ("min", "max")
    for length in (None, task.length + 5):
        x, y, mask = task.batch(3, torch.Generator().manual_seed(0), length=length)
        steps = x.shape[1]
        assert steps >= (task.length if length is None else length)
        if task.input_kind == "tokens":
            assert x.dtype == torch.long and x.shape == (3, steps)
            assert 0 <= x.min() and x.max() < task.input_size
        else:
            assert x.dtype == torch.float32 and x.shape == (3, steps, task.input_size)
        lead = (3, steps) if task.readout == "every" else (3,)
        assert mask.dtype == torch.bool and mask.shape == lead
        if task.target_kind == "class":
            assert y.dtype == torch.long and y.shape == lead
            assert 0 <= y.min() and y.max() < task.output_size
        else:
            assert y.dtype == torch.float32 and y.shape == (*lead, task.output_size)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_loss_is_differentiable_and_metrics_are_named(name: str) -> None:
    task = tasks.build(name, **SMALL[name])
    x, y, mask = task.batch(8, torch.Generator().manual_seed(0))
    lead = y.shape if task.target_kind == "class" else y.shape[:-1]
    pred = torch.randn(*lead, task.output_size, requires_grad=True)
    loss = task.loss(pred, y, mask)
    loss.backward()
    assert loss.ndim == 0 and pred.grad is not None and pred.grad.abs().sum() > 0
    metrics = task.metrics(pred, y, mask)
    expected = {
        "real": {"loss", "mse", "tol_acc"},
        "class": {"loss", "recall_acc", "seq_acc"} if task.readout == "every" else {"loss", "acc"},
    }[task.target_kind]
    assert set(metrics) == expected and task.primary_metric in metrics
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["loss"] == pytest.approx(loss.item())


def perfect(task: tasks.Task, y: torch.Tensor) -> torch.Tensor:
    if task.target_kind == "real":
        return y.clone()
    return torch.nn.functional.one_hot(y, task.output_size).float() * 20.0


@pytest.mark.parametrize("name", sorted(SMALL))
def test_perfect_predictions_solve_and_trivial_ones_do_not(name: str) -> None:
    task = tasks.build(name, **SMALL[name])
    x, y, mask = task.batch(64, torch.Generator().manual_seed(0))
    good = task.metrics(perfect(task, y), y, mask)
    assert task.solved(good)
    assert good["loss"] < 1e-6 * task.baseline() + 1e-6
    zeros = torch.zeros_like(perfect(task, y))  # uniform logits / predict 0
    assert not task.solved(task.metrics(zeros, y, mask))


def test_recall_metrics_count_tokens_and_sequences() -> None:
    task = tasks.build("copy", length=6)
    x, y, mask = task.batch(10, torch.Generator().manual_seed(0))
    pred = perfect(task, y)
    pred[3, -1] = pred[3, -1].roll(1)  # one wrong recall token in sequence 3
    pred[5, 2] = pred[5, 2].roll(1)  # one wrong blank in sequence 5 (loss counts every step)
    m = task.metrics(pred, y, mask)
    assert m["recall_acc"] == pytest.approx(1 - 1 / 100)
    assert m["seq_acc"] == pytest.approx(1 - 2 / 10)
    recall_only = tasks.build("copy", length=6, loss_on="recall")
    m = recall_only.metrics(pred, y, y != recall_only.blank)
    assert m["seq_acc"] == pytest.approx(1 - 1 / 10)


def test_regression_metrics_and_solved_criteria() -> None:
    task = tasks.build("adding", length=12)
    _, y, mask = task.batch(100, torch.Generator().manual_seed(0))
    pred = y.clone()
    pred[:10] += 0.05  # 10 of 100 outside the 0.04 tolerance
    m = task.metrics(pred, y, mask)
    assert m["mse"] == pytest.approx(10 * 0.05**2 / 100, rel=1e-4)
    assert m["tol_acc"] == pytest.approx(0.9)
    assert task.solved(m)  # mse 2.5e-4 <= 0.05 / 6
    strict = tasks.build("adding", length=12, solved_tol_acc=1.0)
    assert not strict.solved(m) and strict.solved({"mse": 0.0, "tol_acc": 1.0})
    assert not task.solved({"mse": float("nan"), "tol_acc": 1.0})


def test_classification_solved_threshold_is_a_parameter() -> None:
    task = tasks.build("temporal_order", solved_acc=0.9)
    assert task.solved({"acc": 0.9}) and not task.solved({"acc": 0.89})
    with pytest.raises(ValueError, match="'acc'"):
        task.solved({"val/acc": 1.0})


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("copy", {"length": 0}, r"copy: length must be an integer >= 1, got 0"),
        ("copy", {"length": 2.5}, r"length must be an integer"),
        ("copy", {"n_copy": 9, "distinct": True}, r"n_copy must be in \[1, alphabet=8\]"),
        ("copy", {"loss_on": "last"}, r"loss_on must be one of 'all' \| 'recall'"),
        ("copy", {"random_delay": 1}, r"random_delay must be one of False \| True"),
        ("copy", {"length": 3, "random_delay": True, "min_delay": 5}, r"length .* >= 5"),
        ("selective_copy", {"length": 10, "n_copy": 16}, r"length must be >= n_copy=16"),
        ("temporal_order", {"relevant": 4}, r"relevant must be one of 2 \| 3, got 4"),
        ("temporal_order", {"length": 9}, r"length must be an integer >= 10"),
        ("adding", {"form": "orig"}, r"form must be one of 'modern' \| 'original'"),
        ("adding", {"length": 10, "form": "original"}, r"length must be an integer >= 11"),
        ("adding", {"length": 1}, r"length must be an integer >= 2"),
        ("adding", {"solved_norm_mse": None}, r"set solved_norm_mse or solved_tol_acc"),
        ("multiplication", {"tolerance": -1}, r"tolerance must be a number"),
        ("temporal_order", {"solved_acc": 2}, r"solved_acc must be a number in \[0.0, 1.0\]"),
    ],
)
def test_bad_parameters_raise_one_line_value_errors(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        tasks.build(name, **params)
    assert "\n" not in str(info.value)


def test_unknown_task_and_parameter_are_named() -> None:
    with pytest.raises(ValueError, match="unknown task 'copying'; choose one of: adding, contin"):
        tasks.build("copying")
    with pytest.raises(ValueError, match=r"copy: unknown parameter 'delay'; accepted: length, "):
        tasks.build("copy", delay=5)


def test_batch_arguments_are_checked() -> None:
    task = tasks.build("selective_copy", length=20, n_copy=4)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        task.batch(0, torch.Generator())
    with pytest.raises(ValueError, match="length must be >= n_copy=4"):
        task.batch(2, torch.Generator(), length=3)


def test_baseline_follows_length_override() -> None:
    task = tasks.build("copy", length=100)
    assert task.baseline(length=1000) == pytest.approx(tasks.build("copy", length=1000).baseline())
