"""A real study, end to end, into tmp_path: tune over a two-point grid -> select on validation ->
evaluate -> report, then the same command again trains nothing, and a changed spec is refused
naming the key. Slow (three multiruns: ~30 s idle, 75 s on a loaded 2-core machine);
tests/test_study_quick.py runs a one-point grid end to end inside `make test`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures.study_runner import first_run, run_study, tiny_spec

pytestmark = pytest.mark.slow

SPEC = tiny_spec("e2e", [0.01, 0.03], [1, 2, 3])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return first_run(tmp_path_factory.mktemp("study"), SPEC)


def _records(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*/results.json"))]


def test_every_job_ran_once_in_its_stage(study) -> None:
    directory, _, first = study
    records = _records(directory)
    tuning = [r for r in records if r["seed"] == 0]
    evaluation = [r for r in records if r["seed"] in (1, 2, 3)]
    assert len(tuning) == 2 * 2  # cells x learning rates, one tuning seed
    assert len(evaluation) == 2 * 3  # cells x evaluation seeds, one (selected) rate each
    assert len(records) == 10
    for cell in ("rnn", "gru"):
        rates = {r["config"]["optimizer"]["lr"] for r in evaluation if r["variant"] == cell}
        assert len(rates) == 1
    assert "tune: jobs 4/4 done" in first.stdout and "evaluate: jobs 6/6 done" in first.stdout


def test_selection_is_the_best_validation_value_of_the_tuning_seed(study) -> None:
    directory, _, _ = study
    records = _records(directory)
    for cell in ("rnn", "gru"):
        tuned = {r["config"]["optimizer"]["lr"]: r["final"]["val/mse"] for r in records
                 if r["variant"] == cell and r["seed"] == 0}  # fmt: skip
        chosen = {r["config"]["optimizer"]["lr"] for r in records
                  if r["variant"] == cell and r["seed"] != 0}  # fmt: skip
        assert chosen == {min(tuned, key=tuned.get)}


def _first_section(report: str) -> str:
    sections = report.split("\n## ")
    return sections[1]


def test_report_opens_with_the_primary_family_and_exact_p(study) -> None:
    directory, _, _ = study
    report = (directory / "report" / "report.md").read_text()
    section = _first_section(report)
    assert section.startswith("Primary comparisons (pre-registered)")
    assert "gru vs rnn, adding T = 5, norm_loss" in section
    records = _records(directory)
    values = {cell: np.array([r["test"]["test/norm_loss"] for r in records
                              if r["variant"] == cell and r["seed"] in (1, 2, 3)
                              and r["status"] in ("solved", "finished")])
              for cell in ("gru", "rnn")}  # fmt: skip
    pooled = np.concatenate([values["gru"], values["rnn"]])
    observed = abs(values["gru"].mean() - values["rnn"].mean())
    n = values["gru"].size
    splits = list(itertools.combinations(range(pooled.size), n))
    hits = sum(
        abs(pooled[list(s)].mean() - np.delete(pooled, list(s)).mean()) >= observed * (1 - 1e-9)
        for s in splits
    )
    primary = pd.read_csv(directory / "report" / "primary.csv")
    assert primary.loc[0, "p_permutation"] == pytest.approx(hits / len(splits), rel=1e-9)
    assert primary.loc[0, "permutation"] == "exact"
    # a family of one: Holm leaves its p unchanged
    assert primary.loc[0, "p_holm"] == pytest.approx(primary.loc[0, "p"])
    assert f"{hits / len(splits):.3g}" in section


def test_tables_hold_the_evaluation_seeds_only_and_flag_edges(study) -> None:
    directory, _, _ = study
    summary = pd.read_csv(directory / "report" / "summary.csv")
    records = _records(directory)
    for row in summary.itertuples():
        evaluation = sorted(
            (r for r in records if r["variant"] == row.variant and r["seed"] in (1, 2, 3)
             and r["status"] in ("solved", "finished")), key=lambda r: r["seed"])  # fmt: skip
        assert row.n_runs == 3
        shown = [float(v) for v in str(row.seed_values).split(", ")]
        assert shown == pytest.approx([r["test"]["test/mse"] for r in evaluation], rel=1e-2)
        # a two-point grid: every selection is at its top or its bottom
        assert row.selected.endswith("(edge: extend the grid)")
    report = (directory / "report" / "report.md").read_text()
    assert report.count("(edge: extend the grid)") >= 2


def test_second_run_trains_nothing_and_a_changed_spec_is_refused(study, tmp_path) -> None:
    directory, spec_path, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in directory.glob("*/results.json")}
    again = run_study(spec_path, directory)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "tune: 4/4 jobs already final: nothing to do" in again.stdout
    assert "evaluate: 6/6 jobs already final: nothing to do" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in directory.glob("*/results.json")} == stamps
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**SPEC, "grid": {"optimizer.lr": [0.01, 0.1]}}))
    refused = run_study(changed, directory)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "grid.optimizer.lr[1] differs" in lines[0]
