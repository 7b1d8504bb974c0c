"""Solved criteria at their thresholds, with thresholds written from the papers' numbers (not
from `baseline()`): regression `mse <= solved_norm_mse x baseline` just under, at and just over
the line; `tol_acc >= solved_tol_acc`; accuracy rules `>= 0.99`; a non-finite metric is never
solved; a missing metric is a one-line error naming it."""

from __future__ import annotations

import math

import pytest

import tasks

EPS = 1e-9
# (task, params, the trivial baseline by hand: ANCHORS.md / the tasks' docstrings)
REGRESSION = [
    ("adding", {"form": "modern"}, 1 / 6),  # Var(U1 + U2)
    ("adding", {"form": "original"}, 19 / 480),  # (3/10 + 1/3) / 16
    ("multiplication", {"form": "modern"}, 1 / 9 - 1 / 16),  # 7/144
    ("multiplication", {"form": "original"}, 2 / 15 - (11 / 40) ** 2),  # 277/4800
]


@pytest.mark.parametrize("name,params,baseline", REGRESSION)
@pytest.mark.parametrize("factor", [0.05, 0.2])
def test_regression_solved_exactly_at_factor_times_baseline(name: str, params: dict,
                                                            baseline: float,
                                                            factor: float) -> None:
    task = tasks.build(name, length=20, solved_norm_mse=factor, **params)
    line = factor * baseline
    assert task.solved({"mse": line * (1 - EPS), "tol_acc": 0.0})
    assert task.solved({"mse": line, "tol_acc": 0.0})  # <=, as documented
    assert not task.solved({"mse": line * (1 + EPS), "tol_acc": 1.0})
    assert not task.solved({"mse": factor, "tol_acc": 1.0})  # without the x baseline factor
    assert not task.solved({"mse": math.nan, "tol_acc": 1.0})
    assert not task.solved({"mse": math.inf, "tol_acc": 1.0})


def test_regression_tolerance_rule_alone_and_with_mse() -> None:
    task = tasks.build("adding", length=20, solved_norm_mse=None, solved_tol_acc=0.99)
    assert task.solved({"mse": 1.0, "tol_acc": 0.99})
    assert not task.solved({"mse": 0.0, "tol_acc": 0.99 - EPS})
    assert not task.solved({"mse": 0.0, "tol_acc": math.nan})
    both = tasks.build("adding", length=20, solved_norm_mse=0.05, solved_tol_acc=1.0)
    assert both.solved({"mse": 0.05 / 6, "tol_acc": 1.0})
    assert not both.solved({"mse": 0.05 / 6, "tol_acc": 1.0 - EPS})
    assert not both.solved({"mse": 0.05 / 6 * (1 + EPS), "tol_acc": 1.0})
    with pytest.raises(ValueError, match="set solved_norm_mse or solved_tol_acc"):
        tasks.build("adding", length=20, solved_norm_mse=None, solved_tol_acc=None)


@pytest.mark.parametrize("name,params,metric", [
    ("copy", {"length": 5}, "recall_acc"),
    ("selective_copy", {"length": 40, "n_copy": 4, "alphabet": 6}, "recall_acc"),
    ("temporal_order", {"length": 100}, "acc"),
])  # fmt: skip
def test_accuracy_rules_at_0_99(name: str, params: dict, metric: str) -> None:
    task = tasks.build(name, **params)
    assert task.params["solved_acc"] == 0.99 and task.primary_metric == metric
    assert task.solved({metric: 0.99})
    assert task.solved({metric: 1.0})
    assert not task.solved({metric: 0.99 - EPS})
    assert not task.solved({metric: math.nan})
    other = tasks.build(name, **params, solved_acc=0.5)
    assert other.solved({metric: 0.5}) and not other.solved({metric: 0.5 - EPS})
    with pytest.raises(ValueError, match=f"needs metric '{metric}'"):
        task.solved({"loss": 0.0})
