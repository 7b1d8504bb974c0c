"""Effect sizes in the report's rows against hand-computed values: the mean difference to the
reference and its range interval, P(better than ref) and Cliff's delta, the smallest reachable
Welch p, and Boschloo's test on solved counts over the *attempted* runs (failed runs left out)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats

from gatebench.report import load_runs, summarize


def _record(variant: str, seed: int, status: str, test: float | None) -> dict:
    solved = status == "solved"
    return {
        "schema_version": 1, "run_name": f"{variant}-adding-T10-s{seed}", "variant": variant,
        "task": {"name": "adding", "params": {"length": 10}}, "length": 10, "seed": seed,
        "status": status, "message": None, "steps": 100,
        "steps_to_solve": 100 if solved else None, "metric": "val/mse", "metric_mode": "min",
        "baseline": 1 / 6,
        "final": {} if test is None else {"val/mse": test, "val/norm_loss": 6 * test},
        "best": {}, "test": {} if test is None else {"test/mse": test, "test/norm_loss": 6 * test},
        "norm_loss": None if test is None else 6 * test, "params": 100,
        "config": {"seed": seed, "variant_label": variant},
    }  # fmt: skip


def _sweep(root: Path, runs: dict[str, list[tuple[str, float | None]]]) -> Path:
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for variant, rows in runs.items():
        for seed, (status, test) in enumerate(rows):
            run = root / f"{variant}-{seed}"
            run.mkdir()
            (run / "results.json").write_text(json.dumps(_record(variant, seed, status, test)))
    return root


def test_effect_sizes_and_solved_test_by_hand(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "s", {
        "lstm": [("finished", 0.10), ("finished", 0.20), ("finished", 0.30), ("failed", None)],
        "gru": [("solved", 0.05), ("solved", 0.25), ("failed", None)],
    })  # fmt: skip
    row = summarize(load_runs([sweep]).runs, reference="lstm").set_index("variant").loc["gru"]
    # mean difference 0.15 - 0.20; with < 5 runs a side the interval is the range of pairwise
    # differences: [min(gru) - max(lstm), max(gru) - min(lstm)]
    assert row["diff"] == pytest.approx(-0.05)
    assert (row["diff_low"], row["diff_high"]) == pytest.approx((-0.25, 0.15))
    assert row["diff_kind"] == "range"
    # lower mse is better: 0.05 beats all three, 0.25 beats 0.30 only -> 4 of 6 pairs
    assert row["p_superiority"] == pytest.approx(4 / 6)
    assert row["cliffs_delta"] == pytest.approx(2 * 4 / 6 - 1)
    assert row["min_p_welch"] == 0.0  # two runs a side: t, hence p, is unbounded
    # solved counts over attempted runs (failed left out): gru 2/2, lstm 0/3
    expected = stats.boschloo_exact([[2, 0], [0, 3]], alternative="two-sided").pvalue
    assert row["p_solved"] == pytest.approx(expected)
    assert row["min_p_solved"] == pytest.approx(expected)  # 2/2 vs 0/3 is the extreme table


def test_no_welch_p_is_reachable_with_one_run_a_side(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "s", {
        "lstm": [("finished", 0.10), ("finished", 0.20)],
        "gru": [("finished", 0.05)],
    })  # fmt: skip
    row = summarize(load_runs([sweep]).runs, reference="lstm").set_index("variant").loc["gru"]
    assert math.isnan(row["min_p_welch"]) and math.isnan(row["p_welch"])
    assert row["p_superiority"] == pytest.approx(1.0) and row["cliffs_delta"] == pytest.approx(1)


def test_higher_is_better_for_an_accuracy(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for variant, values in (("lstm", (0.5, 0.7)), ("gru", (0.6, 0.9))):
        for seed, value in enumerate(values):
            record = _record(variant, seed, "finished", 0.1)
            record.update(metric="val/recall_acc", metric_mode="max",
                          final={"val/recall_acc": value}, test={"test/recall_acc": value})
            record["task"]["name"] = "copy"
            (root / f"{variant}-{seed}").mkdir()
            (root / f"{variant}-{seed}" / "results.json").write_text(json.dumps(record))
    row = summarize(load_runs([root]).runs, reference="lstm").set_index("variant").loc["gru"]
    # higher recall is better: 0.6 beats 0.5; 0.9 beats 0.5 and 0.7 -> 3 of 4 pairs
    assert row["p_superiority"] == pytest.approx(3 / 4)
    assert row["diff"] == pytest.approx(0.75 - 0.6)
