"""The report's "How runs ended" section on fixture runs with hand-made curves: counts of each
ending, and which runs at the step budget were still improving (fall of val/norm_loss over the
plateau window > min_delta)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatebench.report import load_runs
from gatebench.report.__main__ import main
from gatebench.report.stopping import stopping_table

# plateau window = patience 4 x validation every 100 = 400 steps; min_delta 0.01
CONFIG = {"trainer": {"max_steps": 1000, "val_check_interval": 100},
          "plateau": {"patience": 4, "min_delta": 0.01}}  # fmt: skip


def _run(root: Path, name: str, seed: int, curve: list[float], stopped_by: str | None,
         status: str = "finished", steps_to_solve: int | None = None) -> None:
    steps = [100 * (i + 1) for i in range(len(curve))]
    run = root / name
    run.mkdir(parents=True)
    record = {
        "schema_version": 1, "run_name": name, "variant": "lstm", "seed": seed, "length": 50,
        "task": {"name": "adding", "params": {"length": 50}}, "status": status,
        "steps": steps[-1], "steps_to_solve": steps_to_solve, "stopped_by": stopped_by,
        "metric": "val/mse", "metric_mode": "min", "baseline": 1 / 6,
        "final": {"val/mse": curve[-1] / 6, "val/norm_loss": curve[-1]}, "best": {}, "test": {},
        "norm_loss": curve[-1], "params": 100,
        "config": {**CONFIG, "seed": seed, "variant_label": "lstm"},
    }  # fmt: skip
    (run / "results.json").write_text(json.dumps(record))
    lines = ["step,val/norm_loss"] + [f"{s},{v}" for s, v in zip(steps, curve, strict=True)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "s"
    # at the budget, falling 0.05 per validation: 0.2 over the last 400 steps -> improving
    _run(root, "a", 0, [1.0 - 0.05 * i for i in range(10)], "max_steps")
    # at the budget, flat within 0.005 over the last 400 steps -> not improving
    _run(root, "b", 1, [1.0, 0.8, 0.6, 0.5, 0.5, 0.5, 0.504, 0.502, 0.501, 0.499], "max_steps")
    _run(root, "c", 2, [1.0, 1.0, 1.0, 1.0, 1.0], "plateau")
    _run(root, "d", 3, [1.0, 0.5, 0.01], "solved", status="solved", steps_to_solve=300)
    # an older record without stopped_by, at the budget: inferred as max_steps; falls 0.011
    _run(root, "e", 4, [1.0] * 6 + [0.9, 0.9, 0.889, 0.889], None)
    (root / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    return root


def test_endings_and_still_improving_runs_are_counted(sweep: Path) -> None:
    records = load_runs([sweep])
    row = stopping_table(records.runs, records.curves).iloc[0]
    assert (row["runs"], row["solved"], row["plateau"], row["max_steps"], row["other"]) == (
        5, 1, 1, 3, 0
    )
    # falls over the last 400 steps (value at step 600 minus at 1000): a 0.2, b 0.001, e 0.111
    assert row["still_improving"] == 2 and row["window"] == 400
    assert row["median_drop"] == pytest.approx(0.111)


def test_report_has_the_section(sweep: Path) -> None:
    assert main([str(sweep), "--no-plots"]) == 0
    text = (sweep / "report.md").read_text()
    assert "## How runs ended" in text and "Such runs here: 2." in text
    line = next(x for x in text.splitlines() if x.startswith("| adding") and "2/3" in x)
    assert line.rstrip().endswith("0.111 |")


def test_cost_reads_step_time_from_the_logged_speed_and_run_time_from_the_records(
    tmp_path: Path,
) -> None:
    from gatebench.report.cost import cost_table

    root = tmp_path / "c"
    for seed, (rates, wall) in enumerate((([40.0, 50.0, 60.0], 30.0), ([20.0, 25.0], 10.0))):
        _run(root, f"r{seed}", seed, [1.0, 0.9, 0.8], "max_steps")
        record = json.loads((root / f"r{seed}" / "results.json").read_text())
        (root / f"r{seed}" / "results.json").write_text(json.dumps({**record, "wall_time_s": wall}))
        lines = ["step,train/steps_per_sec"] + [f"{10 * (i + 1)},{r}" for i, r in enumerate(rates)]
        (root / f"r{seed}" / "metrics.csv").write_text("\n".join(lines) + "\n")
    records = load_runs([root])
    row = cost_table(records.runs, records.curves).iloc[0]
    # per run 1000 / median rate: 1000/50 = 20 ms and 1000/22.5 = 44.4 ms; median of the two
    assert row["ms_per_step"] == pytest.approx((20.0 + 1000 / 22.5) / 2)
    assert row["run_s_median"] == pytest.approx(20.0) and row["run_s_total"] == pytest.approx(40.0)
    assert row["params"] == 100 and row["runs"] == 2
