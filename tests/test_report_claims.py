"""What a report claims (issue 24): no "Best" when no variant beat the trivial baseline, and
settings that are not hyperparameters (`imports`, progress, diagnostics) never become selection
axes, split rows or sensitivity plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from fixtures.report.builder import write_fixture_sweep

from gatebench.report.records import load_runs
from gatebench.report.selection import select, swept_keys
from gatebench.report.writer import write_report


def _nothing_learned(sweep: Path) -> None:
    """Every completed run of the fixture at norm_loss 0.95-0.97, none solved."""
    for k, path in enumerate(sorted(sweep.glob("*/results.json"))):
        record = json.loads(path.read_text())
        if record["status"] not in ("solved", "finished"):
            continue
        norm = 0.95 + 0.02 * (k % 3) / 2
        record.update(status="finished", steps_to_solve=None, norm_loss=norm)
        record["final"]["val/norm_loss"] = norm
        metric = record["metric"].removeprefix("val/")  # as the fixture derives it from norm
        value = norm * record["baseline"] if record["metric_mode"] == "min" else 1 - 0.875 * norm
        record["final"].update({"val/loss": norm * record["baseline"], f"val/{metric}": value})
        record["test"].update({"test/norm_loss": norm, f"test/{metric}": value})
        record["best"] = {f"val/{metric}": value}
        path.write_text(json.dumps(record))


def test_no_best_headline_when_no_variant_beat_the_trivial_baseline(tmp_path) -> None:
    learned, flat = tmp_path / "learned", tmp_path / "flat"
    for sweep in (learned, flat):
        write_fixture_sweep(sweep, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1, 2))
    _nothing_learned(flat)
    kept = write_report(load_runs([learned]), tmp_path / "a", plots=False).files[0].read_text()
    assert kept.count("**Best: `") == 2  # the control: one per table (adding, copy)
    report = write_report(load_runs([flat]), tmp_path / "b", plots=False).files[0].read_text()
    assert "**Best:" not in report
    assert report.count("**No variant beat the trivial baseline**: none solved a run") == 2


def test_imports_and_other_non_hyperparameters_are_never_selection_axes() -> None:
    runs = pd.DataFrame({
        "task": "adding", "length": 10, "variant": "gru", "seed": [0, 1, 0, 1],
        "status": "finished", "metric": "val/mse", "metric_mode": "min",
        "final_metric": [0.1, 0.2, 0.1, 0.2], "norm_loss": [0.5, 0.6, 0.5, 0.6],
        "config.imports": ["[]", "[]", "['my_cells']", "['my_cells']"],
        "config.progress_every_s": [30, 30, 10, 10],
        "config.diagnostics.every": [None, None, 100, 100],
        "config.optimizer.lr": [0.001, 0.001, 0.001, 0.001],
    })  # fmt: skip
    assert swept_keys(runs) == []  # two sweeps of gru differing only in how they ran: one group
    runs.loc[2:, "config.optimizer.lr"] = 0.01
    assert swept_keys(runs) == ["config.optimizer.lr"]
    assert select(runs, "val").axes == ["config.optimizer.lr"]


def test_scipy_info_lines_are_kept_out_of_the_sweep_report(tmp_path, caplog) -> None:
    import logging

    from omegaconf import OmegaConf
    from scipy import stats

    from gatebench.report.callback import WriteReport
    from gatebench.report.statistics import solved_counts_min_p, solved_counts_p

    caplog.set_level(logging.INFO)  # as Hydra sets the root logger
    stats.boschloo_exact([[3, 1], [0, 3]])  # the control: shgo logs on the root logger
    assert any("scipy" in r.pathname for r in caplog.records)
    caplog.clear()
    solved_counts_p.cache_clear()  # so the report calls Boschloo's test again
    solved_counts_min_p.cache_clear()
    sweep = tmp_path / "sweep"
    write_fixture_sweep(sweep, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1, 2))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "overrides": {"task": []}}})
    WriteReport(plots=False, print_table=False).on_multirun_end(config)
    assert (sweep / "report.md").is_file()
    assert "Boschloo" in (sweep / "report.md").read_text()  # the test ran, quietly
    assert not [r for r in caplog.records if "scipy" in r.pathname]
