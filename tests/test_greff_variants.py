"""Every number in results/greff_variants/README.md and its ledger row, from the records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test
from scipy import stats

from gatebench.report import scaling
from gatebench.report.records import load_runs

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "greff_variants"
SEEDS = list(range(40, 50))


def text(path: Path) -> str:
    return " ".join(path.read_text().split())


@pytest.fixture(scope="module")
def study() -> dict:
    runs = load_runs([STUDY]).runs
    evaluation = runs[runs["seed"].isin(SEEDS)]
    return {"runs": runs, "evaluation": evaluation,
            "frame": scaling.censored_frame(runs, SEEDS),
            "summary": pd.read_csv(STUDY / "report" / "summary.csv"),
            "readme": text(STUDY / "README.md"), "ledger": text(ROOT / "results" / "ledger.md")}


def loss(study: dict, variant: str, task: str) -> np.ndarray:
    e = study["evaluation"]
    return e[(e["variant"] == variant) & (e["task"] == task)]["test_norm_loss"].to_numpy(float)


def median(study: dict, variant: str, task: str) -> float:
    s = study["summary"]
    return float(s[(s["variant"] == variant) & (s["task"] == task)]["km_median_steps"].iloc[0])


def holm_logrank(study: dict, variant: str, task: str) -> float:
    s = study["summary"]
    row = s[(s["variant"] == variant) & (s["task"] == task)].iloc[0]
    f = study["frame"]
    mine = f[(f["variant"] == variant) & (f["task"] == task)]
    ref = f[(f["variant"] == "peephole") & (f["task"] == task)]
    p = logrank_test(mine["duration"], ref["duration"], mine["event"], ref["event"]).p_value
    assert p == pytest.approx(row["p_logrank"], rel=1e-9)
    return float(row["p_logrank_holm"])


def test_the_primary_family(study: dict) -> None:
    readme = study["readme"]
    primary = pd.read_csv(STUDY / "report" / "primary.csv")
    base = loss(study, "peephole", "continual_adding")
    p, raw = {}, {}
    for variant in ("nfg", "noaf"):
        mine = loss(study, variant, "continual_adding")
        exact = stats.permutation_test((mine, base), lambda a, b: np.mean(a) - np.mean(b),
                                       permutation_type="independent", n_resamples=np.inf,
                                       vectorized=False).pvalue  # fmt: skip
        row = primary[primary["comparison"].str.startswith(f"{variant} vs peephole")].iloc[0]
        assert exact == pytest.approx(row["p"], rel=1e-6)
        p[variant], raw[variant] = row["p_holm"], exact
    # Holm over 2: the smaller p doubled, the larger as it is (never below the first)
    assert raw["nfg"] < raw["noaf"] and p["nfg"] == pytest.approx(2 * raw["nfg"], rel=1e-6)
    assert p["noaf"] == pytest.approx(max(2 * raw["nfg"], raw["noaf"]), rel=1e-6)
    nfg, noaf = loss(study, "nfg", "continual_adding"), loss(study, "noaf", "continual_adding")
    assert (f"test loss {base.mean():.3f} of the baseline), NFG ends at {nfg.mean():.3f} "
            f"(pre-registered G1, exact permutation test, Holm p = {p['nfg']:.2g})") in readme
    e = study["evaluation"]
    runs = e[(e["variant"] == "noaf") & (e["task"] == "continual_adding")]
    unsolved = np.sort(runs[runs["status"] != "solved"]["test_norm_loss"].to_numpy(float))
    assert (f"NOAF leaves {unsolved.size} of 10 runs unsolved, one at {unsolved[-1]:.0f}x the "
            f"baseline (its mean {noaf.mean():.2f}; G2, Holm p = {p['noaf']:.2g})") in readme
    assert (f"end at {unsolved[0]:.2f}, {unsolved[1]:.1f} and {unsolved[2]:.0f} times the "
            "baseline") in readme  # fmt: skip
    cifg = loss(study, "cifg", "continual_adding")
    welch = stats.ttest_ind(cifg, base, equal_var=False).pvalue
    assert f"CIFG matches the vanilla LSTM ({cifg.mean():.3f}; Welch p = {welch:.2g}" in readme
    assert (f"(Kaplan-Meier median {median(study, 'nfg', 'continual_adding'):.0f} against "
            f"{median(study, 'peephole', 'continual_adding'):.0f}; log-rank Holm p = "
            f"{holm_logrank(study, 'nfg', 'continual_adding'):.2g})") in readme
    ledger = study["ledger"]
    assert (f"(`peephole`, test loss {base.mean():.3f} of the baseline) NFG ends at "
            f"{nfg.mean():.3f} (pre-registered G1, Holm p = {p['nfg']:.2g}) and NOAF leaves "
            f"{unsolved.size} of 10 runs unsolved (mean {noaf.mean():.2f}; G2, Holm p = "
            f"{p['noaf']:.2g}), while CIFG matches it ({cifg.mean():.3f})") in ledger


def test_the_plain_adding_rows(study: dict) -> None:
    readme = study["readme"]
    m = {v: median(study, v, "adding") for v in ("nfg", "noaf", "peephole", "cifg")}
    assert (f"(median steps to solve {m['nfg']:.0f} and {m['noaf']:.0f} against the vanilla's "
            f"{m['peephole']:.0f}; log-rank Holm p = 1 for both)") in readme
    assert holm_logrank(study, "nfg", "adding") == holm_logrank(study, "noaf", "adding") == 1.0
    assert (f"CIFG learns sooner ({m['cifg']:.0f} steps; Holm p = "
            f"{holm_logrank(study, 'cifg', 'adding'):.2g})") in readme
    assert "neither NFG nor NOAF hurts (log-rank Holm p = 1)" in study["ledger"]


def test_the_caveats_and_provenance(study: dict) -> None:
    readme, runs, evaluation = study["readme"], study["runs"], study["evaluation"]
    nfg = loss(study, "nfg", "continual_adding")
    solved_nfg = evaluation[(evaluation["variant"] == "nfg")
                            & (evaluation["task"] == "continual_adding")]["status"]  # fmt: skip
    assert (solved_nfg == "solved").all() and (nfg < 0.05).sum() == 9
    assert (f"below 0.05 of the baseline) in all 10; on the test set 9 below it, the tenth at "
            f"{nfg.max():.4f}") in readme  # fmt: skip
    solved = (evaluation["status"] == "solved").groupby([evaluation["variant"],
                                                        evaluation["task"]]).sum()  # fmt: skip
    assert solved[("noaf", "continual_adding")] == 7
    assert solved[("peephole", "continual_adding")] == 10
    boschloo = stats.boschloo_exact([[7, 10], [3, 0]]).pvalue  # columns: the two samples
    assert f"(7/10 against 10/10, Boschloo p = {boschloo:.2g})" in readme
    tuning = runs[~runs["seed"].isin(SEEDS)]
    chosen = evaluation.groupby(["variant", "task"])["config.optimizer.lr"].agg(set)
    assert all(s <= {0.01, 0.03} and len(s) == 1 for s in chosen)
    noaf = tuning[(tuning["variant"] == "noaf") & (tuning["task"] == "continual_adding")]
    at = noaf[noaf["config.optimizer.lr"] == next(iter(chosen[("noaf", "continual_adding")]))]
    assert len(at) == 2 and (at["status"] == "solved").all()  # "two seeds that both solved"
    assert len(runs) == 160 and len(evaluation) == 80 and set(tuning["seed"]) == {4, 5}
    assert set(runs["git_commit"]) == {"ced9b620fca4bb09943972e2fa385849e84d93a1"}
    start = pd.to_datetime(runs["started_at"].min(), unit="s").strftime("%H:%M")
    end = pd.to_datetime(runs["ended_at"].max(), unit="s").strftime("%H:%M")
    assert (f"{start}-{end} UTC on 2026-12-07, {runs['wall_time_s'].sum() / 3600:.1f} h of "
            "summed run time") in readme  # fmt: skip
