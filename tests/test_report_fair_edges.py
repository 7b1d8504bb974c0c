"""Sensitivity, importance and length tables at their edges (issue 25): test values are compared
only when every completed run has one (else validation, no run dropped); the length table's
median is a median (skewed values, median != mean) and needs two tested lengths; fANOVA rows
need two varying keys for that variant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gatebench.report import load_runs
from gatebench.report.generalisation import COLUMNS, generalisation_table, long_tests
from gatebench.report.importance import importance_table
from gatebench.report.selection import swept_keys
from gatebench.report.sensitivity import sensitivity_table


def _record(variant: str, seed: int, lr: float, val: float, test: float | None,
            hidden: int = 16, tests: dict | None = None) -> dict:
    """A finished adding run (T = 10) with final val/mse `val` and test/mse `test` (None: the
    run was not tested); `tests`: its per-length blocks {length: mse}."""
    record = {
        "schema_version": 1, "run_name": f"{variant}-{lr}-{hidden}-s{seed}", "variant": variant,
        "variant_options": {"hidden_size": hidden},
        "task": {"name": "adding", "params": {"length": 10}}, "length": 10, "seed": seed,
        "status": "finished", "message": None, "steps": 100, "steps_to_solve": None,
        "metric": "val/mse", "metric_mode": "min", "baseline": 1 / 6,
        "final": {"val/mse": val, "val/norm_loss": 6 * val}, "best": {},
        "test": {} if test is None else {"test/mse": test, "test/norm_loss": 6 * test},
        "norm_loss": 6 * val, "params": 1000,
        "config": {"seed": seed, "optimizer": {"name": "adam", "lr": lr},
                   "variant": {"name": variant, "hidden_size": hidden},
                   "task": {"name": "adding", "length": 10}, "variant_label": variant},
    }  # fmt: skip
    if tests is not None:
        record["test_lengths"] = sorted(tests)
        record["tests"] = {str(n): {"test/mse": v, "test/norm_loss": 6 * v}
                           for n, v in tests.items()}
    return record


def _runs(tmp_path: Path, records: list[dict]):
    root = tmp_path / "sweep"
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for i, record in enumerate(records):  # read back in this order
        (root / f"{i:03d}").mkdir()
        (root / f"{i:03d}" / "results.json").write_text(json.dumps(record))
    return load_runs([root]).runs


def test_sensitivity_compares_validation_when_one_run_has_no_test_value(tmp_path) -> None:
    """Seed 2 at lr 1e-3 was not tested: every run is compared on val/mse, none is dropped."""
    val = {0.001: [0.30, 0.10, 0.20], 0.01: [0.05, 0.07, 0.06]}
    records = [
        _record("lstm", s, lr, v, None if (lr, s) == (0.001, 2) else v + 1.0)
        for lr, values in val.items() for s, v in enumerate(values)
    ]  # fmt: skip
    runs = _runs(tmp_path, records)
    table = sensitivity_table(runs, swept_keys(runs)).set_index("value")
    assert set(table["metric"]) == {"val/mse"}
    for lr, values in val.items():
        row = table.loc[f"{lr:g}"]
        assert row["n_values"] == 3 and row["n_runs"] == 3
        assert row["median"] == pytest.approx(np.median(values))
        assert (row["low"], row["high"]) == pytest.approx((min(values), max(values)))


def _length_records(values_at_20: list[float]) -> list[dict]:
    return [
        _record("lstm", s, 0.001, 0.1, 0.05, tests={10: 0.05, 20: v})
        for s, v in enumerate(values_at_20)
    ]


def test_length_table_median_is_the_median_not_the_mean(tmp_path) -> None:
    skewed = [0.1, 0.2, 5.0]  # median 0.2, mean 1.77
    table = generalisation_table(_runs(tmp_path, _length_records(skewed)))
    row = table.set_index("test_length").loc[20]
    assert row["median"] == pytest.approx(0.2)
    assert row["norm_loss_median"] == pytest.approx(6 * 0.2)
    assert (row["low"], row["high"], row["n_values"]) == pytest.approx((0.1, 5.0, 3))
    assert row["n_runs"] == 3 and list(table.columns) == COLUMNS


def test_length_table_rows_in_order_solved_runs_counted_text_values_dropped(tmp_path) -> None:
    """Records read gru after lstm and L = 20 before L = 10: rows still sorted by variant,
    then length. A solved run counts; a value that is not a number is no value; the trivial
    baseline of a loss metric is loss / norm_loss; no task_params column: no chance level."""
    records = []
    for variant in ("lstm", "gru"):
        for seed, status in enumerate(("finished", "solved")):
            record = _record(variant, seed, 0.001, 0.1, 0.05)
            record.update(status=status, metric="val/loss", final={"val/loss": 0.1})
            record["tests"] = {
                "20": {"test/loss": 0.4 + seed, "test/norm_loss": (0.4 + seed) / 2.0},
                "10": {"test/loss": "n/a" if seed else 0.1, "test/norm_loss": 0.1},
            }
            records.append(record)
    runs = _runs(tmp_path, records)
    table = generalisation_table(runs)
    assert list(zip(table["variant"], table["test_length"], strict=True)) == [
        ("gru", 10), ("gru", 20), ("lstm", 10), ("lstm", 20)
    ]
    assert list(table["n_runs"]) == [2, 2, 2, 2]
    assert list(table["n_values"]) == [1, 2, 1, 2]  # "n/a" is not a value
    assert list(table["median"]) == pytest.approx([0.1, 0.9, 0.1, 0.9])
    assert list(table["baseline"]) == pytest.approx([1.0, 2.0, 1.0, 2.0])  # loss / norm_loss
    bare = generalisation_table(runs.drop(columns="task_params"))
    assert bare["chance"].isna().all() and len(bare) == 4


def test_without_test_blocks_the_length_frames_are_empty_with_their_columns(tmp_path) -> None:
    runs = _runs(tmp_path, [_record("lstm", 0, 0.001, 0.1, None)])
    assert list(long_tests(runs).columns) == ["_run", "test_length", "name", "value"]
    assert long_tests(runs).empty
    assert generalisation_table(runs).empty and list(generalisation_table(runs).columns) == COLUMNS


def test_length_table_needs_two_tested_lengths_per_variant(tmp_path) -> None:
    """gru was tested at T = 10 only: no row (there is nothing to generalise to); lstm's
    lengths 10 and 20 give two rows."""
    records = _length_records([0.1, 0.2])
    records += [_record("gru", s, 0.001, 0.1, 0.05, tests={10: 0.05}) for s in range(2)]
    table = generalisation_table(_runs(tmp_path, records))
    assert list(zip(table["variant"], table["test_length"], strict=True)) == [
        ("lstm", 10), ("lstm", 20)
    ]
    only_t = [_record("gru", s, 0.001, 0.1, 0.05, tests={10: 0.05}) for s in range(2)]
    one_length = generalisation_table(_runs(tmp_path / "t", only_t))
    assert one_length.empty and list(one_length.columns) == COLUMNS


def test_importance_rows_only_for_variants_that_vary_two_keys(tmp_path) -> None:
    """lstm varies lr and hidden size, gru only lr (hidden 16): fANOVA shares exist for lstm
    only (one key's share of one key is 1 by construction: nothing to report)."""
    records = [
        _record("lstm", 0, lr, 0.5, 0.5, hidden=h) for lr in (0.001, 0.01) for h in (8, 16)
    ]
    records += [_record("gru", 0, lr, v, v) for lr, v in ((0.001, 0.2), (0.01, 0.4))]
    runs = _runs(tmp_path, records)
    assert swept_keys(runs) == ["config.optimizer.lr", "config.variant.hidden_size"]
    table = importance_table(runs, swept_keys(runs))
    assert list(zip(table["variant"], table["key"], strict=True)) == [
        ("lstm", "optimizer.lr"), ("lstm", "variant.hidden_size")
    ]
