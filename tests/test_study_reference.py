"""The reference study ported to a spec (conf/study/reference_study.yaml) reads its committed
records: every job the spec asks for is final there (so the tool trains nothing), the selection
picks the learning rate the committed evaluation runs used, and the committed study report
(results/reference_study/report/) holds the evaluation seeds' values, recomputed here from the
records' results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatebench.report.records import load_runs
from gatebench.study.plan import is_final, job_dir, resolve, tuning_jobs
from gatebench.study.select import choose, evaluation_jobs, runs_of
from gatebench.study.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
STUDY = REPO / "results" / "reference_study"


@pytest.fixture(scope="module")
def ported():
    spec = load_spec(REPO / "conf" / "study" / "reference_study.yaml", STUDY)
    resolved = resolve(spec)
    jobs = tuning_jobs(spec, spec.grid)
    runs = load_runs([STUDY]).runs
    choice = choose(spec, spec.grid, runs_of(runs, spec, jobs, resolved), resolved)
    return spec, resolved, jobs, choice


def test_every_job_of_the_spec_is_final_in_the_committed_study(ported) -> None:
    spec, resolved, jobs, choice = ported
    evaluation = evaluation_jobs(spec, choice)
    assert (len(jobs), len(evaluation)) == (186, 93)  # 31 (cell, task, T) x 3 lr x 2 / x 3 seeds
    for job in [*jobs, *evaluation]:
        assert is_final(job_dir(spec, job, resolved[(job.cell, job.task)]), spec.max_steps), job
    assert len(choice.edges) == 21  # of 31 selections, as the referee read found


def _recall(cell: str, length: int, seeds) -> list[float]:
    values = []
    for path in sorted(STUDY.glob(f"{cell}-copy-T{length}-s*-lr*/results.json")):
        record = json.loads(path.read_text())
        if record["seed"] in seeds and record["config"]["optimizer"]["lr"] == 0.01:
            values.append(record["test"]["test/recall_acc"])
    return values


def test_the_committed_study_report_holds_the_evaluation_seeds_only() -> None:
    primary = pd.read_csv(STUDY / "report" / "primary.csv")
    row = primary[primary["comparison"] == "gru vs lstm, copy_k4 T = 100, metric"].iloc[0]
    evaluation = _recall("gru", 100, (2, 3, 4))
    assert len(evaluation) == 3
    assert row["mean_a"] == pytest.approx(np.mean(evaluation))
    pooled = _recall("gru", 100, (0, 1, 2, 3, 4))  # the script's table pooled the tuning seeds
    assert abs(np.mean(pooled) - np.mean(evaluation)) > 0.01
    summary = pd.read_csv(STUDY / "report" / "summary.csv")
    assert set(summary["n_runs"]) == {3}
    report = (STUDY / "report" / "report.md").read_text()
    assert report.split("\n## ")[1].startswith("Primary comparisons")
    assert "Not a pre-registration" in report


def test_the_main_readme_quotes_the_evaluation_seeds_means() -> None:
    """README: 'the GRU's copy recall is 0.76 and 0.77, not 0.83', '21 of 31 ... on an edge'."""
    main = " ".join((REPO / "README.md").read_text().split())
    at = {n: np.mean(_recall("gru", n, (2, 3, 4))) for n in (100, 200)}
    pooled = {n: np.mean(_recall("gru", n, (0, 1, 2, 3, 4))) for n in (100, 200)}
    assert (f"the GRU's copy recall is {at[100]:.2f} and {at[200]:.2f}, not "
            f"{pooled[100]:.2f}") in main
    assert f"{pooled[200]:.2f}" == f"{pooled[100]:.2f}"
    assert "21 of 31 learning-rate selections sit on an edge of the grid" in main
