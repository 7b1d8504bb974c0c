"""Every number in results/lag_scaling_fine/README.md's answer, recomputed from the records.

The laws, the primary family and the Kaplan-Meier medians by `gatebench.report.scaling` (the
committed `scaling.md` is regenerated and must match); the log-rank p-values by lifelines from
the evaluation runs (equal to the study tool's `report/summary.csv`) with a Holm written in
`test_lag_scaling_answer`; the tool's own primary p from first principles (complete separation
of two groups of 10: 2 of the C(20, 10) splits). A claim the records stop carrying fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.scaling_tables import check_committed, km, load_study
from lifelines.statistics import logrank_test
from test_lag_scaling_answer import holm

from gatebench.report import scaling
from gatebench.report.records import load_runs

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "lag_scaling_fine"
FIRST = ROOT / "results" / "lag_scaling"
PRIMARY = [("gru", "lstm_fb1"), ("cifg_np_fb1", "lstm_fb1")]
COMMON = [100, 200, 400]
GRID = [0.003, 0.01, 0.03, 0.1, 0.3]
BUDGET = 4000


def text(path: Path) -> str:
    return " ".join(path.read_text().split())


@pytest.fixture(scope="module")
def study() -> dict:
    return load_study(STUDY)


def medians(study: dict, variant: str, lengths) -> list[float]:
    return [km(study, variant, n) for n in lengths]


def test_the_committed_scaling_tables_are_the_records(study: dict, tmp_path: Path) -> None:
    check_committed(STUDY, STUDY / "scaling.md", tmp_path, PRIMARY, COMMON)


def test_the_answer_quotes_the_medians_and_the_laws(study: dict) -> None:
    readme, frame = study["readme"], study["frame"]
    lstm = ", ".join(f"{m:.0f}" for m in medians(study, "lstm_fb1", (50, 100, 200)))
    solved = [int(frame[(frame["variant"] == "lstm_fb1") & (frame["length"] == n)]["event"].sum())
              for n in (200, 400)]  # fmt: skip
    assert (f"`lstm_fb1` {lstm} and {km(study, 'lstm_fb1', 400):.0f} at T = 50, 100, 200 and 400 "
            f"({solved[0]} and {solved[1]} of 10 runs solved within {BUDGET} steps") in readme
    coupled = medians(study, "cifg_np_fb1", (50, 100, 200, 400))
    assert (f"(`cifg_np_fb1`) {coupled[0]:.0f}, {coupled[1]:.0f}, {coupled[2]:.0f} and "
            f"{coupled[3]:.0f};") in readme  # fmt: skip
    gru = medians(study, "gru", (50, 100, 200, 400, 800))
    flat = set(medians(study, "gru", (100, 200, 400)))
    assert len(flat) == 1
    assert (f"the GRU {min(gru):.0f}-{max(gru):.0f} over T = 50-800, flat at {flat.pop():.0f} from "
            "T = 100 to 400") in readme  # fmt: skip
    laws = study["laws"]
    lstm, coupled = laws["lstm_fb1"], laws["cifg_np_fb1"]
    assert lstm.lengths == coupled.lengths == (50, 100, 200, 400)
    assert (f"{lstm.exponent:.2f} [{lstm.low:.2f}, {lstm.high:.2f}] for `lstm_fb1` (50-400), "
            f"{coupled.exponent:.2f} [{coupled.low:.2f}, {coupled.high:.2f}] for the coupled LSTM "
            "(50-400)") in readme  # fmt: skip
    gru_law, mingru_law = laws["gru"], laws["mingru"]
    assert gru_law.lengths == mingru_law.lengths == (50, 100, 200, 400, 800)
    assert (f"{gru_law.exponent:.2f} [{gru_law.low:.2f}, {gru_law.high:.2f}] for the GRU and "
            f"{mingru_law.exponent:.2f} [{mingru_law.low:.2f}, {mingru_law.high:.2f}] for minGRU "
            "(50-800; exploratory)") in readme  # fmt: skip


def test_the_answer_quotes_the_primary_family(study: dict) -> None:
    readme = study["readme"]
    p1, p2 = scaling.primary_family(study["frame"], PRIMARY, "adding", 32, COMMON)
    assert (f"the GRU's exponent {p1.exponent_cell:.2f} against `lstm_fb1`'s "
            f"{p1.exponent_against:.2f}, a difference of {p1.difference:.2f} [{p1.low:.2f}, "
            f"{p1.high:.2f}] (Holm p = {p1.holm_p:.2g})") in readme  # fmt: skip
    assert (f"the coupled LSTM's {p2.exponent_cell:.2f}, a difference of {p2.difference:.2f} "
            f"[{p2.low:.2f}, {p2.high:.2f}] (Holm p = {p2.holm_p:.2g})") in readme
    assert p1.holm_p < 0.05 and p2.holm_p < 0.05 and p2.exponent_against == p1.exponent_against
    # "about linearly": lstm_fb1's exponent interval holds 1 over its lags
    law = study["laws"]["lstm_fb1"]
    assert law.low < 1.0 < law.high


def test_the_answer_quotes_the_ratios_and_the_logrank_tests(study: dict) -> None:
    readme, frame = study["readme"], study["frame"]
    summary = pd.read_csv(STUDY / "report" / "summary.csv")
    rows = summary[summary["p_logrank"].notna()]
    for row in rows.itertuples():
        mine = frame[(frame["variant"] == row.variant) & (frame["length"] == row.length)]
        theirs = frame[(frame["variant"] == "lstm_fb1") & (frame["length"] == row.length)]
        p = logrank_test(mine["duration"], theirs["duration"], mine["event"],
                         theirs["event"]).p_value  # fmt: skip
        assert p == pytest.approx(row.p_logrank, rel=1e-9, abs=1e-15), (row.variant, row.length)
    columns = ["p_welch", "p_mwu", "p_solved", "p_logrank"]
    family = summary[columns].to_numpy(dtype=float).ravel()
    finite = family[np.isfinite(family)]
    assert finite.size == int(summary["family_size"].iloc[0]) == 48
    adjusted = dict(zip(finite, holm(finite), strict=True))
    lags = (50, 100, 200, 400)
    worst = {}
    for variant in ("gru", "cifg_np_fb1"):
        ratios = [km(study, "lstm_fb1", n) / km(study, variant, n) for n in lags]
        assert ratios == sorted(ratios), variant  # "the ratio widening with T"
        words = "the GRU learns" if variant == "gru" else "and the coupled LSTM"
        assert f"{words} {round(min(ratios))}-{round(max(ratios))}x" in readme
        worst[variant] = max(adjusted[float(rows[(rows["variant"] == variant)
                                                 & (rows["length"] == n)]["p_logrank"].iloc[0])]
                             for n in lags)  # fmt: skip
    assert (f"Holm p at most {worst['gru']:.2g} and {worst['cifg_np_fb1']:.2g} in the study "
            "tool's family of 48") in readme  # fmt: skip
    faster = [km(study, "cifg_np_fb1", n) / km(study, "gru", n) for n in lags]
    assert f"by {min(faster):.1f}-{max(faster):.0f}x in median at T = 50-400" in readme


def test_the_tools_primary_family_from_first_principles(study: dict) -> None:
    readme, frame = study["readme"], study["frame"]
    primary = pd.read_csv(STUDY / "report" / "primary.csv")
    at = frame[frame["length"] == 400]
    steps = {v: at[at["variant"] == v]["duration"].where(at[at["variant"] == v]["event"] == 1,
                                                          BUDGET).to_numpy()  # fmt: skip
             for v in ("gru", "cifg_np_fb1", "lstm_fb1")}
    exact = 2 / math.comb(20, 10)  # complete separation: the observed split and its mirror
    for variant, row in zip(("gru", "cifg_np_fb1"), primary.itertuples(), strict=True):
        assert steps[variant].max() < steps["lstm_fb1"].min()
        assert row.p == pytest.approx(exact) and row.p_holm == pytest.approx(2 * exact)
        assert row.mean_a == pytest.approx(steps[variant].mean())
        assert row.mean_b == pytest.approx(steps["lstm_fb1"].mean())
    assert (f"the GRU {steps['gru'].mean():.0f} against {steps['lstm_fb1'].mean():.0f} steps on "
            f"average, the coupled LSTM {steps['cifg_np_fb1'].mean():.0f} against "
            f"{steps['lstm_fb1'].mean():.0f}, Holm p = {2 * exact:.2g} each") in readme


def test_the_caveats_and_the_provenance(study: dict) -> None:
    readme, runs, frame = study["readme"], study["runs"], study["frame"]
    params = {v: int(runs[runs["variant"] == v]["params"].iloc[0])
              for v in ("cifg_np_fb1", "lstm_fb1")}  # fmt: skip
    assert (f"({params['cifg_np_fb1']:,} parameters against {params['lstm_fb1']:,})") in readme
    censored = [int((1 - frame[(frame["variant"] == "lstm_fb1") & (frame["length"] == n)]["event"])
                    .sum()) for n in (200, 400)]  # fmt: skip
    assert (f"censors {sum(censored)} `lstm_fb1` runs ({censored[0]} at T = 200, {censored[1]} at "
            "400)") in readme  # fmt: skip
    # provenance: counts, seeds, one commit, the time span, the summed run time
    seeds = set(study["seeds"])
    evaluation = runs[runs["seed"].isin(seeds)]
    tuning = runs[~runs["seed"].isin(seeds)]
    assert len(runs) == 360 and len(evaluation) == 180 and len(tuning) == 180
    assert set(tuning["seed"]) == {2, 3} and seeds == set(range(20, 30))
    assert set(runs["git_commit"]) == {"910da85bfba7644334c80ea6f1e5047c2faea5a1"}
    start = pd.to_datetime(runs["started_at"].min(), unit="s").strftime("%H:%M")
    end = pd.to_datetime(runs["ended_at"].max(), unit="s").strftime("%H:%M")
    hours = runs["wall_time_s"].sum() / 3600
    assert (f"ran on commit 910da85 from a separate worktree, {start}-{end} UTC on 2026-12-07, "
            f"{hours:.1f} h of summed run time") in readme  # fmt: skip
    # every selection interior to the grid, as the README lists them
    chosen = evaluation.groupby(["variant", "length"])["config.optimizer.lr"].agg(set)
    assert all(len(s) == 1 and min(GRID) < next(iter(s)) < max(GRID) for s in chosen)
    rate = {key: f"{next(iter(s)):g}" for key, s in chosen.items()}
    assert len(rate) == 18
    assert (f"`cifg_np_fb1` {rate[('cifg_np_fb1', 50)]} at T = 50 and "
            f"{rate[('cifg_np_fb1', 100)]} at 100-400") in readme  # fmt: skip
    assert {rate[("cifg_np_fb1", n)] for n in (100, 200, 400)} == {rate[("cifg_np_fb1", 100)]}
    for variant in ("gru", "lstm_fb1"):
        values = {rate[(variant, n)] for n in (50, 100, 200, 400) + ((800,) if variant == "gru"
                                                                       else ())}  # fmt: skip
        assert len(values) == 1 and f"`{variant}` {values.pop()} at every lag" in readme
    mingru = {n: rate[("mingru", n)] for n in (50, 100, 200, 400, 800)}
    assert mingru[50] == mingru[800] and len({mingru[n] for n in (100, 200, 400)}) == 1
    assert (f"`mingru` {mingru[50]} at 50 and 800, {mingru[100]} at 100-400") in readme


def test_the_comparison_with_the_first_study(study: dict) -> None:
    readme = study["readme"]
    first_frame = scaling.censored_frame(load_runs([FIRST]).runs, scaling.evaluation_seeds(FIRST))
    first = {"km": scaling.km_table(first_frame)}
    assert (f"(2800 here, {km(first, 'lstm_fb1', 400):.0f} there)".replace(
        "2800", f"{km(study, 'lstm_fb1', 400):.0f}") in readme)  # fmt: skip
    assert (f"({km(study, 'lstm_fb1', 50):.0f} and {km(study, 'lstm_fb1', 200):.0f} here, "
            f"{km(first, 'lstm_fb1', 50):.0f} and {km(first, 'lstm_fb1', 200):.0f} there)"
            ) in readme  # fmt: skip
    runs = load_runs([FIRST]).runs
    evaluation = runs[runs["seed"].isin(scaling.evaluation_seeds(FIRST))]
    fb1 = evaluation[evaluation["variant"] == "lstm_fb1"]
    rate = {n: set(fb1[fb1["length"] == n]["config.optimizer.lr"]) for n in (50, 200)}
    assert rate == {50: {0.03}, 200: {0.001}}
    unsolved = 10 - int(first_frame[(first_frame["variant"] == "lstm_fb1")
                                    & (first_frame["length"] == 50)]["event"].sum())  # fmt: skip
    assert f"{unsolved} of 10 runs unsolved at T = 50) and 0.001" in readme
    old = {w.variant: w for w in scaling.fit_laws(first_frame)}["lstm_fb1"]
    new = study["laws"]["lstm_fb1"]
    assert (f"exponent, {old.exponent:.2f} [{old.low:.2f}, {old.high:.2f}], does not replicate "
            f"({new.exponent:.2f} here)") in readme  # fmt: skip
    assert old.high < new.low  # the intervals do not overlap


def test_the_ledger_quotes_the_same_numbers(study: dict) -> None:
    ledger = text(ROOT / "results" / "ledger.md")
    readme = study["readme"]
    for words in ("6-28x", "3-14x", "0.00043 and 0.00025", "(Holm p = 8.1e-08)",
                  "-0.57 [-0.90, -0.23]", "-0.92 [-1.25, -0.59]"):  # fmt: skip
        assert words in readme, words
    assert ("the gap is 6-28x and grows with the lag (pre-registered P1, the difference of "
            "exponents on lags 100-400: -0.92 [-1.25, -0.59], Holm p = 8.1e-08)") in ledger
    assert ("median 3-14x fewer steps (log-rank Holm p at most 0.00025), and its learning time "
            "grew more slowly with the lag (pre-registered P2: -0.57 [-0.90, -0.23], Holm p = "
            "0.0008)") in ledger  # fmt: skip


def test_the_front_door_quotes_the_same_numbers(study: dict) -> None:
    front = text(ROOT / "README.md")
    law = study["laws"]["lstm_fb1"]
    p1, p2 = scaling.primary_family(study["frame"], PRIMARY, "adding", 32, COMMON)
    coupled = medians(study, "cifg_np_fb1", (50, 100, 200, 400))
    gru = medians(study, "gru", (50, 100, 200, 400, 800))
    assert (f"(Kaplan-Meier medians {km(study, 'lstm_fb1', 50):.0f} at T = 50 to "
            f"{km(study, 'lstm_fb1', 400):.0f} at T = 400; exponent {law.exponent:.2f} "
            f"[{law.low:.2f}, {law.high:.2f}])") in front  # fmt: skip
    assert f"(f = 1 - i) needs {min(coupled):.0f}-{max(coupled):.0f} steps over those" in front
    assert f"the GRU {min(gru):.0f}-{max(gru):.0f} up to T = 800" in front
    assert (f"both pre-registered differences of exponents hold (Holm p = {p1.holm_p:.2g} and "
            f"{p2.holm_p:.2g})") in front  # fmt: skip


def test_the_mechanism_section_is_the_records() -> None:
    from gatebench.report import mechanism

    readme = text(STUDY / "README.md")
    root = ROOT / "results" / "lag_scaling_mechanism"
    records = mechanism.read_records(root)
    rows = pd.DataFrame([mechanism.events(r) for r in records], columns=mechanism.COLUMNS)
    assert len(rows) == 48 and set(rows["seed"]) == set(range(30, 38))
    assert {r["git_commit"] for r in records} == {"910da85bfba7644334c80ea6f1e5047c2faea5a1"}
    fell = rows[rows["t_loss"].notna()]
    lead = fell["lead_keep"]
    assert (f"In {int((lead > 0).sum())} of the {len(fell)} runs whose loss fell the keep gate "
            f"was half-way open before it (in the other {int((lead == 0).sum())} at the same "
            "snapshot; in none after)") in readme  # fmt: skip
    assert (lead < 0).sum() == 0
    table = mechanism.lead_table(rows)
    assert len(table) * 2 == 12 and table["keep: sign test p"].min() == pytest.approx(2 / 2**8)
    holm_smallest = 12 * table[["keep: sign test p", "grad: sign test p"]].to_numpy().min()
    assert holm_smallest > 0.05
    share = fell["t_keep"] / fell["t_loss"]
    median = {v: share[fell["variant"] == v].median() for v in ("cifg_np_fb1", "gru", "lstm_fb1")}
    assert (f"median {median['cifg_np_fb1']:.2f} (`cifg_np_fb1`) and {median['gru']:.2f} (GRU) of "
            f"the time the loss takes to fall; in `lstm_fb1` at {median['lstm_fb1']:.2f}"
            ) in readme  # fmt: skip
    lstm = fell[fell["variant"] == "lstm_fb1"]
    assert f"within a median {lstm['lead_keep'].median():.0f} steps" in readme
    solved = int((rows[rows["variant"] == "lstm_fb1"]["status"] == "solved").sum())
    assert f"`lstm_fb1` solved {solved} of 16" in readme
