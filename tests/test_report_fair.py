"""Fair comparisons in the report: selection on validation, budget, sensitivity, importance,
length generalisation and parameter notes, on fixture records with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatebench.report import load_runs, summarize
from gatebench.report.__main__ import main
from gatebench.report.fair import parameter_notes
from gatebench.report.generalisation import generalisation_table
from gatebench.report.importance import importance_table
from gatebench.report.records import row_from_record
from gatebench.report.selection import select, swept_keys
from gatebench.report.sensitivity import sensitivity_table


def record(variant: str, seed: int, lr: float, val: float, test: float, **extra) -> dict:
    """A finished adding run (T = 10) at learning rate `lr` with final val/test mse."""
    config = {
        "seed": seed,
        "run_dir": f"/x/{variant}-{lr}-{seed}",
        "optimizer": {"name": "adam", "lr": lr},
        "variant": {"name": variant, "hidden_size": extra.pop("hidden_size", 16)},
        "task": {"name": "adding", "length": 10},
        "model": {"param_budget": extra.get("param_budget")},
        "variant_label": variant,
    }
    for key, value in extra.pop("config", {}).items():
        section, name = key.split(".")
        config.setdefault(section, {})[name] = value
    base = {
        "schema_version": 1, "run_name": f"{variant}-adding-T10-s{seed}", "variant": variant,
        "variant_options": {"hidden_size": config["variant"]["hidden_size"]},
        "task": {"name": "adding", "params": {"length": 10}}, "length": 10, "seed": seed,
        "status": extra.pop("status", "finished"), "message": None, "steps": 100,
        "steps_to_solve": None, "metric": "val/mse", "metric_mode": "min",
        "baseline": 1 / 6, "final": {"val/mse": val, "val/norm_loss": val * 6},
        "best": {}, "test": {"test/mse": test, "test/norm_loss": test * 6},
        "norm_loss": val * 6, "params": extra.pop("params", 1000), "config": config,
    }  # fmt: skip
    base.update(extra)
    return base


def write(root: Path, records: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for i, rec in enumerate(records):
        run = root / f"{i}_{rec['run_name']}"
        run.mkdir()
        (run / "results.json").write_text(json.dumps(rec))
    return root


LRS = (0.001, 0.003, 0.01)
# val medians: lstm best at 3e-3, gru best at 1e-2; test would pick lstm 1e-2 and gru 1e-3
VAL = {"lstm": (0.30, 0.05, 0.10), "gru": (0.40, 0.20, 0.02)}
TEST = {"lstm": (0.30, 0.08, 0.01), "gru": (0.01, 0.20, 0.05)}


def known_best_sweep(root: Path, drop: tuple[str, float] | None = None) -> Path:
    records = []
    for variant in VAL:
        for k, lr in enumerate(LRS):
            if drop == (variant, lr):
                continue
            for seed in range(3):
                shift = 0.001 * (seed - 1)
                records.append(
                    record(variant, seed, lr, VAL[variant][k] + shift, TEST[variant][k] + shift)
                )
    return write(root, records)


def test_selection_picks_the_best_validation_setting_not_the_best_test_one(tmp_path) -> None:
    runs = load_runs([known_best_sweep(tmp_path / "s")]).runs
    assert swept_keys(runs) == ["config.optimizer.lr"]
    selection = select(runs)
    chosen = selection.chosen.set_index("variant")["selected"].to_dict()
    assert chosen == {"lstm": "optimizer.lr=0.003", "gru": "optimizer.lr=0.01"}
    summary = summarize(selection.runs).set_index("variant")
    # the reported value is the selected setting's mean *test* mse, computed here from the inputs
    for variant, k in (("lstm", 1), ("gru", 2)):
        expected = np.mean([TEST[variant][k] + 0.001 * (s - 1) for s in range(3)])
        assert summary.loc[variant, "mean"] == pytest.approx(expected)
        assert summary.loc[variant, "n_runs"] == 3
        assert summary.loc[variant, "metric"] == "test/mse"
    assert selection.notes == []


def test_report_names_the_selected_value_and_the_equal_budget(tmp_path) -> None:
    sweep = known_best_sweep(tmp_path / "s")
    assert main([str(sweep), "--no-plots"]) == 0
    text = (sweep / "report.md").read_text()
    assert "## Hyperparameter selection" in text
    assert "every variant was given 3 setting(s) of `optimizer.lr`" in text
    row = next(line for line in text.splitlines() if line.startswith("| lstm ") and "0.003" in line)
    assert "optimizer.lr=0.003" in row
    assert "Warning: unequal tuning budget" not in text


def test_budget_warning_when_variants_got_different_numbers_of_settings(tmp_path) -> None:
    sweep = known_best_sweep(tmp_path / "s", drop=("gru", 0.001))
    runs = load_runs([sweep]).runs
    notes = select(runs).notes
    assert len(notes) == 1 and "gru 2, lstm 3" in notes[0]
    assert main([str(sweep), "--no-plots"]) == 0
    text = (sweep / "report.md").read_text()
    assert "Warning: unequal tuning budget in adding, T = 10" in text
    assert "**unequal**" in text


def test_runs_that_differ_in_a_hyperparameter_are_never_pooled(tmp_path) -> None:
    """Three lstm runs, two at lr 1e-3 and one at 2e-3: never one "lstm, 3 runs" row."""
    records = [
        record("lstm", 0, 0.001, 0.1, 0.1),
        record("lstm", 1, 0.001, 0.2, 0.2),
        record("lstm", 0, 0.002, 0.05, 0.3),
    ]
    sweep = write(tmp_path / "s", records)
    out_none = tmp_path / "none"
    assert main([str(sweep), "--no-plots", "--select", "none", "--out", str(out_none)]) == 0
    summary = pd.read_csv(out_none / "summary.csv")
    assert sorted(summary["n_runs"]) == [1, 2]
    assert set(summary["variant"]) == {"lstm [optimizer.lr=0.001]", "lstm [optimizer.lr=0.002]"}
    assert main([str(sweep), "--no-plots", "--out", str(tmp_path / "val")]) == 0
    selected = pd.read_csv(tmp_path / "val" / "summary.csv")
    assert list(selected["n_runs"]) == [1] and selected["mean"].iloc[0] == pytest.approx(0.3)


def test_a_swept_key_that_is_not_a_selection_axis_splits_rows(tmp_path) -> None:
    records = [
        record("lstm", s, lr, 0.1 * lr * 1000 + 0.01 * clip, 0.1, config={"trainer.clip": clip})
        for lr in (0.001, 0.002)
        for clip in (1.0, 5.0)
        for s in range(2)
    ]
    runs = load_runs([write(tmp_path / "s", records)]).runs
    assert swept_keys(runs) == ["config.optimizer.lr", "config.trainer.clip"]
    selection = select(runs, over=["optimizer.lr"])
    assert sorted(selection.chosen["variant"]) == ["lstm [trainer.clip=1]", "lstm [trainer.clip=5]"]
    assert set(selection.chosen["selected"]) == {"optimizer.lr=0.001"}
    assert len(selection.runs) == 4


def test_a_selection_axis_that_does_not_vary_is_a_one_line_error(tmp_path, capsys) -> None:
    sweep = known_best_sweep(tmp_path / "s")
    assert main([str(sweep), "--no-plots", "--select-over", "optimizer.name"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gatebench.report: error: --select-over optimizer.name: does not vary")
    assert "\n" not in err
    assert main([str(sweep), "--no-plots", "--select-over", "optimizer.beta"]) == 2
    assert "--select-over optimizer.beta: no such config key" in capsys.readouterr().err


def test_a_diverged_setting_is_not_selected(tmp_path) -> None:
    records = [record("lstm", s, 0.001, 0.2, 0.2) for s in range(3)]
    records += [record("lstm", 0, 0.01, 0.01, 0.01)]  # one lucky seed, two diverged
    records += [record("lstm", s, 0.01, math.nan, math.nan, status="diverged") for s in (1, 2)]
    selection = select(load_runs([write(tmp_path / "s", records)]).runs)
    assert list(selection.chosen["selected"]) == ["optimizer.lr=0.001"]


def test_sensitivity_is_the_median_and_range_over_seeds(tmp_path) -> None:
    runs = load_runs([known_best_sweep(tmp_path / "s")]).runs
    table = sensitivity_table(runs, swept_keys(runs))
    assert set(table["variant"]) == {"lstm", "gru"} and set(table["key"]) == {"optimizer.lr"}
    for variant in VAL:
        for k, lr in enumerate(LRS):
            row = table[(table["variant"] == variant) & (table["value"] == f"{lr:g}")].iloc[0]
            values = [TEST[variant][k] + 0.001 * (s - 1) for s in range(3)]
            assert row["median"] == pytest.approx(np.median(values))
            assert row["low"] == pytest.approx(min(values))
            assert row["high"] == pytest.approx(max(values))
            assert row["metric"] == "test/mse"
    assert main([str(tmp_path / "s")]) == 0
    text = (tmp_path / "s" / "report.md").read_text()
    assert "## Sensitivity to each hyperparameter" in text
    assert (tmp_path / "s" / "sensitivity_adding_T10_optimizer-lr.png").stat().st_size > 0


def test_importance_gives_lr_the_largest_share_when_the_metric_depends_on_lr_alone(
    tmp_path,
) -> None:
    rng = np.random.default_rng(0)
    records = []
    for lr in (0.0003, 0.001, 0.003, 0.01, 0.03):
        for hidden in (8, 16, 32, 64):
            for seed in range(2):
                metric = (math.log10(lr) + 2) ** 2 + 0.001 * rng.standard_normal()
                records.append(record("lstm", seed, lr, metric, metric, hidden_size=hidden))
    runs = load_runs([write(tmp_path / "s", records)]).runs
    keys = swept_keys(runs)
    assert keys == ["config.optimizer.lr", "config.variant.hidden_size"]
    table = importance_table(runs, keys).set_index("key")["importance"]
    assert table["optimizer.lr"] > 0.9 > 0.1 > table["variant.hidden_size"]
    assert table.sum() == pytest.approx(1.0)
    assert main([str(tmp_path / "s"), "--no-plots"]) == 0
    assert "## Hyperparameter importance (fANOVA)" in (tmp_path / "s" / "report.md").read_text()


def test_importance_is_undefined_not_an_error_when_the_metric_is_constant(tmp_path) -> None:
    records = [
        record("lstm", s, lr, 0.5, 0.5, hidden_size=h)
        for lr in (0.001, 0.01) for h in (8, 16) for s in range(2)
    ]  # fmt: skip
    runs = load_runs([write(tmp_path / "s", records)]).runs
    table = importance_table(runs, swept_keys(runs))
    assert len(table) == 2 and table["importance"].isna().all()


def test_length_table_reads_one_block_per_length(tmp_path) -> None:
    records = []
    for seed in range(3):
        tests = {
            str(n): {"test/mse": 0.01 * n + seed, "test/norm_loss": 6 * (0.01 * n + seed)}
            for n in (10, 20, 50)
        }
        records.append(
            record("lstm", seed, 0.001, 0.1, tests["10"]["test/mse"], tests=tests,
                   test_lengths=[10, 20, 50])
        )  # fmt: skip
    runs = load_runs([write(tmp_path / "s", records)]).runs
    table = generalisation_table(runs).set_index("test_length")
    assert list(table.index) == [10, 20, 50]
    for n in (10, 20, 50):
        assert table.loc[n, "median"] == pytest.approx(np.median([0.01 * n + s for s in range(3)]))
        assert table.loc[n, "norm_loss_median"] == pytest.approx(6 * (0.01 * n + 1))
    assert main([str(tmp_path / "s")]) == 0
    text = (tmp_path / "s" / "report.md").read_text()
    assert "## Length generalisation" in text and "| L = 50" in text.replace("L = 10 | L = 20 ", "")
    assert (tmp_path / "s" / "length_adding_T10.png").stat().st_size > 0


def test_old_record_tested_at_another_length_is_not_compared_at_t(tmp_path) -> None:
    """Before `tests`, `test` held the block at data.test_length, normalised at T (the bug)."""
    old = record("lstm", 0, 0.001, 0.1, 0.5)
    old["config"]["data"] = {"test_length": 40}
    row = row_from_record(old, "x")
    assert row["test_metric"] is None and row["test_norm_loss"] is None
    assert row["tests.40.test/mse"] == 0.5 and "tests.40.test/norm_loss" not in row
    same = record("lstm", 0, 0.001, 0.1, 0.5)
    same["config"]["data"] = {"test_length": 10}
    assert row_from_record(same, "x")["test_metric"] == 0.5


def test_parameter_notes_say_when_counts_are_unmatched(tmp_path) -> None:
    unmatched = [record("lstm", 0, 0.001, 0.1, 0.1, params=4000),
                 record("rnn", 0, 0.001, 0.1, 0.1, params=1000)]  # fmt: skip
    notes = parameter_notes(load_runs([write(tmp_path / "a", unmatched)]).runs)
    assert notes == [
        "adding, T = 10: compares unmatched parameter counts (lstm 4000, rnn 1000; 4.0x); "
        "`model.param_budget=N` matches them"
    ]
    matched = [record("lstm", 0, 0.001, 0.1, 0.1, params=2961, param_budget=3000),
               record("rnn", 0, 0.001, 0.1, 0.1, params=3117, param_budget=3000)]  # fmt: skip
    notes = parameter_notes(load_runs([write(tmp_path / "b", matched)]).runs)
    assert notes[0].startswith("adding, T = 10: parameter-matched to model.param_budget=3000")
    budgets = [record("lstm", 0, 0.001, 0.1, 0.1, params=3117, param_budget=3000),
               record("gru", 0, 0.001, 0.1, 0.1, params=985, param_budget=1000)]  # fmt: skip
    notes = parameter_notes(load_runs([write(tmp_path / "c", budgets)]).runs)
    assert notes[0].endswith("different model.param_budget values: gru 1000, lstm 3000")


def test_selection_compares_settings_on_the_seeds_they_share(tmp_path) -> None:
    # lstm: lr 3e-3 has val 0.05 on the tuning seeds 0-2 and 0.50 on evaluation seeds 3-6 run
    # after it was chosen; lr 1e-2 has 0.10 on seeds 0-2. Over all its runs 3e-3's median is
    # 0.50 (worse than 0.10); on the shared seeds 0-2 it is 0.05: it stays the selected one.
    records = [record("lstm", s, 0.01, 0.10, 0.10) for s in range(3)]
    records += [record("lstm", s, 0.003, 0.05, 0.05) for s in range(3)]
    records += [record("lstm", s, 0.003, 0.50, 0.50) for s in range(3, 7)]
    runs = load_runs([write(tmp_path / "s", records)]).runs
    selection = select(runs)
    row = selection.chosen.iloc[0]
    assert row["selected"] == "optimizer.lr=0.003"
    assert row["val_median"] == pytest.approx(0.05)
    assert (row["tuning_seeds"], row["n_seeds"]) == (3, 7)
    assert sorted(selection.runs["seed"]) == list(range(7))  # every evaluation seed is reported
    assert main([str(tmp_path / "s"), "--no-plots"]) == 0
    assert "compared on the seeds every setting was run with" in (
        tmp_path / "s" / "report.md"
    ).read_text()
