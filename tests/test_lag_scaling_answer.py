"""Every number in the answer of results/lag_scaling/README.md, recomputed from the records.

The laws and Kaplan-Meier medians by `gatebench.report.scaling` (the committed `scaling.md` and
`common_lags/scaling.md` are regenerated and must match); the log-rank p-values by lifelines
directly from the evaluation runs (they must equal the study tool's `report/summary.csv`), and
their Holm adjustment over the tool's study-wide family by a Holm written here; the controls'
exact test by scipy. A claim that the records stop carrying fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.scaling_tables import check_committed, km, load_study
from lifelines.statistics import logrank_test
from scipy import stats

from gatebench.report import scaling

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "lag_scaling"
PRIMARY = [("gru", "lstm_fb1"), ("lstm_fb1", "lstm"), ("lstm_chrono", "lstm"),
           ("cifg", "lstm_fb1")]  # fmt: skip
GATED = ("lstm", "lstm_fb1", "cifg", "lstm_chrono", "mingru")  # the hidden-32 gated laws
P_COLUMNS = ("p_welch", "p_mwu", "p_solved", "p_logrank")


@pytest.fixture(scope="module")
def study() -> dict:
    return load_study(STUDY)


def lengths(study: dict, variant: str) -> list[int]:
    return sorted(study["km"].loc[study["km"]["variant"] == variant, "length"].astype(int))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (written here, independent of gatebench.report.statistics)."""
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


@pytest.fixture(scope="module")
def logrank_holm(study: dict) -> dict[tuple[str, int], float]:
    """Holm p of each cell's log-rank test against lstm_fb1 per lag, in the study tool's family
    (every p of every test its exploratory tables report), the raw p recomputed by lifelines."""
    summary = pd.read_csv(STUDY / "report" / "summary.csv")
    frame = study["frame"]
    rows = summary[summary["p_logrank"].notna()]
    for row in rows.itertuples():
        mine = frame[(frame["variant"] == row.variant) & (frame["length"] == row.length)]
        theirs = frame[(frame["variant"] == "lstm_fb1") & (frame["length"] == row.length)]
        p = logrank_test(mine["duration"], theirs["duration"], mine["event"],
                         theirs["event"]).p_value  # fmt: skip
        assert p == pytest.approx(row.p_logrank, rel=1e-9, abs=1e-15), (row.variant, row.length)
    family = summary[list(P_COLUMNS)].to_numpy(dtype=float).ravel()
    finite = family[np.isfinite(family)]
    assert finite.size == int(summary["family_size"].iloc[0]) == 104
    adjusted = dict(zip(finite, holm(finite), strict=True))
    return {(r.variant, int(r.length)): adjusted[r.p_logrank] for r in rows.itertuples()}


def test_the_committed_tables_are_the_records(study: dict, tmp_path: Path) -> None:
    check_committed(STUDY, STUDY / "scaling.md", tmp_path / "all", PRIMARY, None)
    check_committed(STUDY, STUDY / "common_lags" / "scaling.md", tmp_path / "common", PRIMARY,
                    [100, 200, 400])  # fmt: skip
    assert (STUDY / "scaling.png").stat().st_size > 10_000


def test_the_levels(study: dict, logrank_holm: dict) -> None:
    text = study["readme"]

    def span(variants: tuple[str, ...]) -> str:
        values = [km(study, v, n) for v in variants for n in lengths(study, v)]
        return f"{min(values):.0f}-{max(values):.0f}"

    assert f"GRU {span(('gru',))}, CIFG {span(('cifg',))}, minGRU {span(('mingru',))}" in text
    assert max(lengths(study, "mingru")) == 200 and "(run to T = 200 only)" in text
    assert f"LSTM with independent gates needs {span(('lstm', 'lstm_fb1'))} steps" in text
    frame = study["frame"]
    for variant in ("lstm", "lstm_fb1"):
        at = frame[(frame["variant"] == variant) & (frame["length"] == 400)]
        assert (len(at), int((at["event"] == 0).sum()), at["duration"].max()) == (10, 3, 4000)
    assert "leaves 3 of 10 runs unsolved at T = 400 within the 4000-step budget" in text
    for variant, words in [("gru", "GRU's median is"), ("cifg", "CIFG's")]:
        ratios = [km(study, "lstm_fb1", n) / km(study, variant, n) for n in (50, 100, 200, 400)]
        assert f"{words} {round(min(ratios))}-{round(max(ratios))}x below" in text
    worst = max(logrank_holm[(v, n)] for v in ("gru", "cifg") for n in (50, 100, 200, 400))
    assert f"Holm p at most {worst:.2g} in the study-wide family of 104 tests" in text


def test_the_rates(study: dict) -> None:
    text = study["readme"]
    laws = study["laws"]
    exponents = [laws[v].exponent for v in GATED]
    widths = [(laws[v].high - laws[v].low) / 2 for v in GATED]
    assert f"lie between {min(exponents):.2f} and {max(exponents):.2f}" in text
    assert f"95% intervals of ±{min(widths):.2f} to ±{max(widths):.2f}" in text
    assert f"exponents ±{min(widths):.2f} to ±{max(widths):.2f} wide" in text
    family = scaling.compare_exponents(list(laws.values()), PRIMARY, "adding", 32)
    assert math.isnan(family[0].difference)  # P1: the GRU's law has no finite interval
    assert all(c.holm_p > 0.05 for c in family[1:])
    smallest = min(family[1:], key=lambda c: c.holm_p)
    assert (smallest.cell, smallest.against) == ("lstm_chrono", "lstm")
    common = scaling.primary_family(study["frame"], PRIMARY, "adding", 32, [100, 200, 400])
    chrono = common[2]
    assert smallest.difference > 0 > chrono.difference  # "changes sign"
    assert (f"Holm p = {smallest.holm_p:.2g}, changes sign when both laws are fitted on the same "
            f"lags 100-400: {chrono.difference:.2f} [{chrono.low:.2f}, {chrono.high:.2f}]") in text
    gru = study["runs"]
    gru = gru[(gru["variant"] == "gru") & gru["seed"].isin(study["seeds"])]
    assert len(gru) == 40 and set(gru["steps_to_solve"]) <= {100.0, 200.0}
    assert (gru["config.trainer.val_check_interval"] == 100).all()
    assert not math.isfinite(laws["gru"].low)
    assert "every one of its 40 evaluation runs solved at the first or second validation" in text


def test_the_initial_timescales(study: dict, logrank_holm: dict) -> None:
    text = study["readme"]
    plain = ", ".join(f"{logrank_holm[('lstm', n)]:.2g}" for n in (50, 100, 200, 400))
    assert f"log-rank Holm p = {plain} at T = 50, 100, 200, 400" in text
    c200, c400 = (logrank_holm[("lstm_chrono", n)] for n in (200, 400))
    assert (f"median {km(study, 'lstm_chrono', 200):.0f} against {km(study, 'lstm_fb1', 200):.0f} "
            f"steps at T = 200, {km(study, 'lstm_chrono', 400):.0f} against "
            f"{km(study, 'lstm_fb1', 400):.0f} at T = 400; Holm p = {c200:.2g} and {c400:.2g}"
            ) in text  # fmt: skip
    assert (f"T = 100, {km(study, 'lstm_chrono', 100):.0f} against "
            f"{km(study, 'lstm_fb1', 100):.0f}, Holm p = "
            f"{logrank_holm[('lstm_chrono', 100)]:.2g}") in text  # fmt: skip


def test_the_controls_and_the_edges(study: dict) -> None:
    text = study["readme"]
    frame = study["frame"]
    solved = {(v, n): int(frame[(frame["variant"] == v) & (frame["length"] == n)]["event"].sum())
              for v in ("irnn", "rnn") for n in (50, 100)}  # fmt: skip
    assert (f"solved {solved[('irnn', 50)]} of 10 runs at T = 50 and {solved[('irnn', 100)]} of "
            f"10 at T = 100; the tanh RNN {solved[('rnn', 50)]} of 10 and {solved[('rnn', 100)]} "
            "of 10") in text  # fmt: skip
    p = stats.boschloo_exact([[solved[("irnn", 100)], 10 - solved[("irnn", 100)]],
                              [solved[("rnn", 100)], 10 - solved[("rnn", 100)]]]).pvalue
    assert f"exact test at T = 100: p = {p:.2g})" in text
    summary = pd.read_csv(STUDY / "report" / "summary.csv")
    edges = summary[summary["selected"].str.contains("edge", na=False)]
    assert len(edges) == 6 and "6 of the 30 selections sat on the grid's top edge" in text
    runs = study["runs"]
    cifg = runs[(runs["variant"] == "cifg") & (runs["length"] == 400) & runs["seed"].isin([0, 1])]
    by_rate = {lr: sorted(g["steps_to_solve"].astype(int)) for lr, g in
               cifg.groupby("config.optimizer.lr") if lr in (0.003, 0.01)}  # fmt: skip
    assert by_rate[0.01] == [300, 300] and by_rate[0.003] == [500, 600]
    chosen = summary[(summary["variant"] == "cifg") & (summary["length"] == 400)]["selected"]
    assert chosen.iloc[0] == "optimizer.lr=0.003"


def test_the_ledger_rows(study: dict, logrank_holm: dict) -> None:
    """The ledger's gatebench cells that this study carries, against the same records."""
    from scipy.stats import binomtest

    ledger = " ".join((ROOT / "results" / "ledger.md").read_text().split())
    frame = study["frame"]

    def solved(variant: str, length: int) -> str:
        k = int(frame[(frame["variant"] == variant) & (frame["length"] == length)]["event"].sum())
        ci = binomtest(k, 10).proportion_ci(method="wilson")
        low, high = (f"{round(v, 2):g}" for v in (ci.low, ci.high))
        named = "Wilson 95%: " if (variant, length) == ("irnn", 50) else ""
        return f"{k}/10 [{named}{low}, {high}]"

    assert (f"`irnn` solved {solved('irnn', 50)} at T = 50 and {solved('irnn', 100)} at T = 100; "
            f"`rnn` (tanh) {solved('rnn', 50)} and {solved('rnn', 100)}") in ledger
    plain = ", ".join(f"{logrank_holm[('lstm', n)]:.2g}" for n in (50, 100, 200, 400))
    laws = list(study["laws"].values())
    p2, p3, p4 = scaling.compare_exponents(laws, PRIMARY, "adding", 32)[1:]
    assert f"(log-rank Holm p = {plain} at T = 50, 100, 200, 400; pre-registered P2" in ledger
    for contrast, name in [(p2, "P2"), (p3, "P3"), (p4, "P4")]:
        shown = (f"{name}, the difference of exponents{' against `lstm`' if name == 'P3' else ''}"
                 f": {contrast.difference:.2f} [{contrast.low:.2f}, {contrast.high:.2f}], Holm p = "
                 f"{contrast.holm_p:.2g}")  # fmt: skip
        assert shown in ledger, name
    for variant, words in [("gru", "GRU's median steps to solve are"), ("cifg", "median")]:
        ratios = [km(study, "lstm_fb1", n) / km(study, variant, n) for n in (50, 100, 200, 400)]
        worst = max(logrank_holm[(variant, n)] for n in (50, 100, 200, 400))
        assert f"{words} {round(min(ratios))}-{round(max(ratios))}x" in ledger
        assert f"Holm p at most {worst:.2g})" in ledger
    chrono = frame[(frame["variant"] == "lstm_chrono") & (frame["length"] == 400)]["event"].sum()
    plain400 = frame[(frame["variant"] == "lstm") & (frame["length"] == 400)]["event"].sum()
    assert f"solved {chrono}/10 at T = 400 against {plain400}/10 for `lstm`" in ledger
    c200, c400, c100 = (logrank_holm[("lstm_chrono", n)] for n in (200, 400, 100))
    assert (f"({km(study, 'lstm_chrono', 200):.0f} against {km(study, 'lstm_fb1', 200):.0f}, "
            f"{km(study, 'lstm_chrono', 400):.0f} against {km(study, 'lstm_fb1', 400):.0f}; "
            f"log-rank Holm p = {c200:.2g} and {c400:.2g}), not at T = 100 (Holm p = "
            f"{c100:.2g})") in ledger  # fmt: skip
