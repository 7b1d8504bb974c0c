"""Every number in results/lag_scaling_wide/README.md, recomputed from the records."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from fixtures.scaling_tables import km, load_study

from gatebench.report.records import load_runs

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "lag_scaling_wide"
FINE = ROOT / "results" / "lag_scaling_fine"


def test_the_answer_is_the_records() -> None:
    readme = " ".join((STUDY / "README.md").read_text().split())
    wide, narrow = load_study(STUDY), load_study(FINE)
    for cell, words in [("lstm_fb1", "`lstm_fb1`"), ("cifg_np_fb1", "(`cifg_np_fb1`, f = 1 - i)"),
                        ("gru", "the GRU")]:  # fmt: skip
        a, b = km(wide, f"{cell}_h128", 100), km(wide, f"{cell}_h128", 200)
        assert f"{words} {a:.0f} and {b:.0f}" in readme, cell
    runs = load_runs([STUDY]).runs
    evaluation = runs[runs["seed"].isin(range(50, 60)) & (runs["length"] == 200)]
    steps = {v: g["steps"].where(g["status"] == "solved", 4000).to_numpy()
             for v, g in evaluation.groupby("variant")}  # fmt: skip
    primary = pd.read_csv(STUDY / "report" / "primary.csv")
    exact = 2 / math.comb(20, 10)
    for cell, row in zip(("gru_h128", "cifg_np_fb1_h128"), primary.itertuples(), strict=True):
        assert steps[cell].max() < steps["lstm_fb1_h128"].min()  # complete separation
        assert row.p == pytest.approx(exact) and row.p_holm == pytest.approx(2 * exact)
    assert (f"the GRU {steps['gru_h128'].mean():.0f} against {steps['lstm_fb1_h128'].mean():.0f} "
            f"steps on average, the coupled LSTM {steps['cifg_np_fb1_h128'].mean():.0f} against "
            f"{steps['lstm_fb1_h128'].mean():.0f}, Holm p = {2 * exact:.2g} each") in readme
    assert (f"were {km(narrow, 'lstm_fb1', 100):.0f} and {km(narrow, 'lstm_fb1', 200):.0f}"
            ) in readme  # fmt: skip
    before = [km(narrow, "lstm_fb1", n) / km(narrow, c, n) for n in (100, 200)
              for c in ("gru", "cifg_np_fb1")]  # fmt: skip
    after = [km(wide, "lstm_fb1_h128", n) / km(wide, f"{c}_h128", n) for n in (100, 200)
             for c in ("gru", "cifg_np_fb1")]  # fmt: skip
    assert (f"narrows from {round(min(before))}-{round(max(before))}x to "
            f"{math.floor(min(after))}-{math.floor(max(after))}x") in readme
    assert len(runs) == 120
    assert set(runs["git_commit"]) == {"ced9b620fca4bb09943972e2fa385849e84d93a1"}
    chosen = runs[runs["seed"] >= 50].groupby(["variant", "length"])["config.optimizer.lr"].agg(set)
    assert len(chosen) == 6 and all(s <= {0.003, 0.01} and len(s) == 1 for s in chosen)
    start = pd.to_datetime(runs["started_at"].min(), unit="s").strftime("%H:%M")
    end = pd.to_datetime(runs["ended_at"].max(), unit="s").strftime("%H:%M")
    assert (f"{start}-{end} UTC on 2026-12-07, {runs['wall_time_s'].sum() / 3600:.1f} h") in readme
