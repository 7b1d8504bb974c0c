"""The study tool end to end inside `make test`: a one-point grid (two multiruns: tune and
evaluate), two cells, one pre-registered comparison. The report opens with the primary family
(its exact permutation p checked against every split, enumerated here); the tables hold the
evaluation seeds' values and none of the tuning seed's; a second run launches nothing."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from fixtures.study_runner import first_run, run_study, tiny_spec

EVALUATION = (1, 2, 3)
SPEC = tiny_spec("quick", [0.03], list(EVALUATION))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    directory, spec_path, first = first_run(tmp_path_factory.mktemp("quick"), SPEC)
    records = [json.loads(p.read_text()) for p in directory.glob("*/results.json")]
    return directory, spec_path, first, records


def test_the_report_opens_with_the_primary_family_with_its_exact_p(study) -> None:
    directory, _, _, records = study
    assert sorted((r["variant"], r["seed"]) for r in records) == sorted(
        (c, s) for c in ("rnn", "gru") for s in (0, *EVALUATION))
    report = (directory / "report" / "report.md").read_text()
    first = report.split("\n## ")[1]
    assert first.startswith("Primary comparisons (pre-registered)")
    assert "gru vs rnn, adding T = 5, norm_loss" in first
    values = {c: np.array([r["test"]["test/norm_loss"] for r in records
                           if r["variant"] == c and r["seed"] in EVALUATION])
              for c in ("gru", "rnn")}  # fmt: skip
    pooled = np.concatenate([values["gru"], values["rnn"]])
    observed = abs(values["gru"].mean() - values["rnn"].mean())
    splits = list(itertools.combinations(range(pooled.size), values["gru"].size))
    hits = sum(abs(pooled[list(s)].mean() - np.delete(pooled, list(s)).mean())
               >= observed * (1 - 1e-9) for s in splits)  # fmt: skip
    primary = pd.read_csv(directory / "report" / "primary.csv")
    assert primary.loc[0, "p_permutation"] == pytest.approx(hits / len(splits), rel=1e-9)
    assert primary.loc[0, "p_holm"] == pytest.approx(primary.loc[0, "p"])  # a family of one
    assert f"| {hits / len(splits):.3g} " in first


def test_tables_hold_the_evaluation_seeds_only(study) -> None:
    directory, _, _, records = study
    summary = pd.read_csv(directory / "report" / "summary.csv")
    assert sorted(summary["variant"]) == ["gru", "rnn"]
    for row in summary.itertuples():
        mine = sorted((r for r in records if r["variant"] == row.variant),
                      key=lambda r: r["seed"])  # fmt: skip
        evaluation = [r["test"]["test/mse"] for r in mine if r["seed"] in EVALUATION]
        assert row.n_runs == len(EVALUATION)
        shown = [float(v) for v in str(row.seed_values).split(", ")]
        assert shown == pytest.approx(evaluation, rel=1e-2)
        assert row.mean == pytest.approx(np.mean(evaluation))


def test_a_second_run_trains_nothing(study) -> None:
    directory, spec_path, _, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in directory.glob("*/results.json")}
    again = run_study(spec_path, directory)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "tune: 2/2 jobs already final: nothing to do" in again.stdout
    assert "evaluate: 6/6 jobs already final: nothing to do" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in directory.glob("*/results.json")} == stamps
