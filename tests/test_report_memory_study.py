"""The memory study's README states only what its committed records support: its headline
numbers are recomputed here from the records (no plots; about 10 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatebench.report import load_runs, summarize
from gatebench.report.ranking import overall_ranking

STUDY = Path(__file__).resolve().parent.parent / "results" / "memory_study"


@pytest.fixture(scope="module")
def study():
    records = load_runs([STUDY])
    summary = summarize(records.runs, reference="lstm").set_index(["task", "length", "variant"])
    readme = " ".join((STUDY / "README.md").read_text().split())  # lines joined
    return records, summary, readme


def test_readme_headline_numbers_match_the_records(study):
    records, summary, readme = study
    assert len(records.runs) == 90
    rnn = summary.loc[("adding", 100, "rnn")]
    assert rnn["n_solved"] == 0 and f"test norm_loss {rnn['norm_loss']:.3g}, 0/3 solved" in readme
    assert summary.loc[("adding", 30, "rnn"), "n_solved"] == 2
    for variant in ("lstm", "peephole", "cifg", "gru"):
        assert all(summary.loc[("adding", n, variant), "n_solved"] == 3 for n in (10, 30, 100))
    assert summary.loc[("adding", 100, "gru"), "km_median_steps"] == 250
    assert summary.loc[("adding", 100, "cifg"), "km_median_steps"] == 250
    assert summary.loc[("adding", 100, "lstm"), "km_median_steps"] == 750
    for n in (10, 30, 100):
        assert summary.loc[("copy", n, "rnn"), "mean"] == pytest.approx(0.125, abs=0.005)
    gru = summary.loc[("copy", 100, "gru")]
    assert gru["n_solved"] == 3 and gru["km_median_steps"] == 2500
    assert f"(recall {summary.loc[('copy', 30, 'lstm'), 'mean']:.3g})" in readme
    cifg = summary.loc[("copy", 100, "cifg")]
    assert cifg["seed_values"] == "0.833, 0.13, 0.896" and f"mean {cifg['mean']:.2g}" in readme


def test_readme_significance_claims_match_the_study_wide_family(study):
    records, summary, readme = study
    m = int(summary["family_size"].iloc[0])
    assert f"m = {m} testable comparisons" in readme and m == 65
    survivors = [(key, test) for key, row in summary.iterrows()
                 for test in ("welch", "mwu", "solved", "logrank")
                 if row[f"p_{test}_holm"] < 0.05]  # fmt: skip
    assert survivors == [(("copy", 10, "rnn"), "welch")]
    assert f"Holm p = {summary.loc[('copy', 10, 'rnn'), 'p_welch_holm']:.2g})" in readme
    assert f"it is {summary.loc[('adding', 100, 'rnn'), 'p_welch_holm']:.1g}." in readme
    gru = summary.loc[("copy", 100, "gru")]
    assert f"Holm p = {gru['p_welch_holm']:.2g} (Welch)" in readme
    assert f"Boschloo p = {gru['p_solved']:.2g}" in readme
    assert f"log-rank p = {gru['p_logrank']:.2g}" in readme
    ranking = overall_ranking(summary.reset_index(), records.runs).set_index("variant")
    assert ranking.index[0] == "gru" and ranking.index[-1] == "rnn"
    best = ranking.loc["gru"]
    assert f"{best['iqm_norm_loss']:.3g} [{best['iqm_low']:.3g}, {best['iqm_high']:.3g}]" in readme
    lstm = ranking.loc["lstm"]
    assert lstm["iqm_low"] > best["iqm_high"]  # "does not overlap"
