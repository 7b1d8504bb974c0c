"""Every committed study's spec, rerun, trains nothing: its stored design is the spec's, every
tuning job (the extended grid's too, where `extend_edges` extended it) and every evaluation job
at the setting the records select is final in the committed directory, and the evaluation seeds
are disjoint from the tuning seeds. What `python -m gatebench.study SPEC` would do, planned
in-process (as `gatebench.study.__main__` plans it) without launching anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatebench.report.records import load_runs
from gatebench.study.plan import is_final, job_dir, resolve, tuning_jobs
from gatebench.study.select import choose, evaluation_jobs, extended, runs_of
from gatebench.study.spec import check_stored, load_spec

REPO = Path(__file__).resolve().parent.parent
STUDIES = ["lag_scaling", "lag_scaling_fine", "hs1997_adding", "greff_variants",
           "lag_scaling_wide", "mingru_layers"]  # fmt: skip


@pytest.mark.parametrize("name", STUDIES)
def test_rerunning_the_spec_trains_nothing(name: str) -> None:
    spec = load_spec(REPO / "conf" / "study" / f"{name}.yaml", REPO / "results" / name)
    check_stored(spec, write=False)  # the committed design is this spec's
    assert not set(spec.tuning_seeds) & set(spec.evaluation_seeds)
    resolved = resolve(spec)
    runs = load_runs([spec.dir]).runs
    grid = spec.grid
    jobs = tuning_jobs(spec, grid)
    choice = choose(spec, grid, runs_of(runs, spec, jobs, resolved), resolved)
    if spec.extend_edges and choice.edges:
        grid = extended(grid, choice)
        jobs = tuning_jobs(spec, grid)
        choice = choose(spec, grid, runs_of(runs, spec, jobs, resolved), resolved)
    final = evaluation_jobs(spec, choice)
    assert len(final) == len(choice.setting) * len(spec.evaluation_seeds)
    for job in [*jobs, *final]:
        assert is_final(job_dir(spec, job, resolved[(job.cell, job.task)]), spec.max_steps), job
    # the records hold no evaluation run at another setting than the one selected
    evaluation = runs[runs["seed"].isin(spec.evaluation_seeds)]
    assert len(evaluation) == len(final)
