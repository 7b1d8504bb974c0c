"""The study report's statistics against independent computations: the permutation p against
brute-force enumeration of every split, Holm over the primary family, Boschloo on the solved
counts, the budget flag, probability of improvement, the learning-rate window and the solved
criteria read from the curves."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from gatebench.report.criteria import criteria_table
from gatebench.report.primary import budget_text, compare, permutation_p, primary_family
from gatebench.report.profiles import probability_of_improvement
from gatebench.report.robustness import robustness_table


def _brute_force(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the splits of the pooled runs into |a| and |b| runs whose |difference of means|
    is at least the observed one (every split equally likely under the null)."""
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    hits = total = 0
    for chosen in itertools.combinations(range(pooled.size), a.size):
        mask = np.zeros(pooled.size, dtype=bool)
        mask[list(chosen)] = True
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed * (1 - 1e-12)
        total += 1
    return hits / total


@pytest.mark.parametrize(("n", "m", "shift"), [(3, 3, 2.0), (4, 6, 0.5), (5, 5, 1.0), (2, 7, 0.0),
                                               (6, 6, 3.0)])  # fmt: skip
def test_permutation_p_is_the_share_of_every_split(n, m, shift) -> None:
    rng = np.random.default_rng(n * 10 + m)
    a = rng.normal(size=n) + shift
    b = rng.normal(size=m)
    b[0] = a[0]  # a tie across the arms
    p, kind = permutation_p(a, b)
    assert kind == "exact"
    assert p == pytest.approx(_brute_force(a, b), rel=1e-12)


def test_ten_against_ten_is_exact_and_separation_reaches_its_floor() -> None:
    a, b = np.arange(10.0), np.arange(10.0) + 100.0
    p, kind = permutation_p(a, b)
    assert kind == "exact"
    assert p == pytest.approx(2 / math.comb(20, 10))  # only the two complete separations


def _runs(statuses: list[str], values: list[float], stopped: list[str] | None = None):
    return pd.DataFrame({
        "status": statuses, "seed": range(len(values)), "metric": "mse",
        "test_metric": values, "final_metric": values, "test_norm_loss": values,
        "norm_loss": values, "stopped_by": stopped or ["max_steps"] * len(values),
    })  # fmt: skip


def test_compare_and_holm_over_the_primary_family_only() -> None:
    from scipy import stats

    a = _runs(["solved"] * 4 + ["finished"], [0.01, 0.02, 0.01, 0.03, 0.9])
    b = _runs(["finished"] * 5, [0.8, 0.9, 1.0, 0.7, 0.95])
    metric = compare(a, b, "metric")
    assert metric["p"] == pytest.approx(_brute_force(a["test_metric"].to_numpy(),
                                                     b["test_metric"].to_numpy()))  # fmt: skip
    assert metric["bimodal"] is True  # a: 4 solved, 1 not
    solved = compare(a, b, "solved")
    table = [[4, 0], [1, 5]]
    assert solved["p"] == pytest.approx(stats.boschloo_exact(table).pvalue)
    other = dict(compare(b, a, "norm_loss"))
    rows = primary_family([metric, solved, other])
    raw = sorted((r["p"], i) for i, r in enumerate(rows))
    m, running = len(rows), 0.0
    for rank, (p, i) in enumerate(raw):  # Holm written out: max over the smaller p's
        running = max(running, min(1.0, (m - rank) * p))
        assert rows[i]["p_holm"] == pytest.approx(running)


def test_budget_flags_a_plateau_stopped_arm_against_a_full_one() -> None:
    full = _runs(["finished"] * 3, [0.5] * 3, ["max_steps"] * 3)
    cut = _runs(["finished"] * 3, [0.5] * 3, ["plateau", "plateau", "max_steps"])
    solved = _runs(["solved"] * 3, [0.01] * 3, ["solved"] * 3)
    assert budget_text(cut, full).startswith("unequal: plateau stopped 2/3 vs 0/3")
    assert budget_text(full, full) == "equal"
    assert budget_text(solved, full) == "equal"  # solving early is the outcome, not a rule
    assert not budget_text(cut, cut).startswith("unequal")  # the same share cut in both arms


def test_probability_of_improvement_against_pairwise_counts() -> None:
    x = [np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.5])]
    y = [np.array([0.2, 0.4]), np.array([0.5, 0.9, 1.0])]
    expected = []
    for xs, ys in zip(x, y, strict=True):  # lower norm_loss improves; ties half
        wins = sum((u < v) + 0.5 * (u == v) for u in xs for v in ys)
        expected.append(wins / (xs.size * ys.size))
    p, low, high = probability_of_improvement(x, y)
    assert p == pytest.approx(np.mean(expected))
    assert low <= p <= high and 0.0 <= low and high <= 1.0


def test_learning_rate_window_in_decades() -> None:
    rows = []
    solved = {0.001: (False, False), 0.003: (True, False), 0.01: (True, True)}
    for lr, outcomes in solved.items():
        for seed, ok in enumerate(outcomes):
            rows.append({"task": "adding", "length": 100, "variant": "lstm", "seed": seed,
                         "status": "solved" if ok else "finished", "config.optimizer.lr": lr})
    table = robustness_table(pd.DataFrame(rows), ["config.optimizer.lr"])
    row = table.iloc[0]
    assert (row["working"], row["settings"]) == (2, 3)  # 1 of 2 at 0.003 is the median
    assert row["window_decades"] == pytest.approx(math.log10(0.01 / 0.003))
    assert bool(row["window_open"]) is True  # it reaches the grid's top


def test_solved_criteria_from_the_curves() -> None:
    params = json.dumps({"tolerance": 0.04, "solved_norm_mse": 0.05})
    runs = pd.DataFrame({
        "task": "adding", "length": 50, "variant": "lstm", "source": ["a", "b", "c"],
        "status": ["solved", "solved", "finished"], "task_params": params,
        "config.data.val_size": 512,
    })  # fmt: skip
    curve = [("a", 100, "val/norm_loss", 0.04), ("a", 100, "val/tol_acc", 0.6),
             ("b", 100, "val/norm_loss", 0.2), ("b", 200, "val/norm_loss", 0.01),
             ("b", 200, "val/tol_acc", 1.0), ("c", 100, "val/norm_loss", 0.9),
             ("c", 100, "val/tol_acc", 0.1)]  # fmt: skip
    curves = pd.DataFrame(curve, columns=["source", "step", "metric", "value"])
    row = criteria_table(runs, curves).iloc[0]
    assert row["solved norm_mse"] == 2 and row["solved hs1997"] == 1
    assert row["within tol at last val (median)"] == pytest.approx(0.6)
    assert row["val sequences"] == 512


def test_steps_endpoint_counts_unsolved_runs_at_the_budget() -> None:
    a = _runs(["solved", "solved", "finished", "diverged", "failed"], [0.0] * 5)
    a = a.assign(steps_to_solve=[250.0, 500.0, None, None, None],
                 **{"config.trainer.max_steps": 2000})  # fmt: skip
    b = _runs(["solved", "finished", "finished"], [0.0] * 3)
    b = b.assign(steps_to_solve=[1500.0, None, None], **{"config.trainer.max_steps": 2000})
    row = compare(a, b, "steps")
    x, y = np.array([250.0, 500.0, 2000.0, 2000.0]), np.array([1500.0, 2000.0, 2000.0])
    assert (row["mean_a"], row["mean_b"]) == (x.mean(), y.mean())  # the failed run is left out
    assert row["p"] == pytest.approx(_brute_force(x, y), rel=1e-12)
