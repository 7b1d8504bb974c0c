"""Every number in results/mingru_layers/README.md, recomputed from the records."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from gatebench.report.records import load_runs

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "mingru_layers"


def test_the_answer_is_the_records() -> None:
    readme = " ".join((STUDY / "README.md").read_text().split())
    runs = load_runs([STUDY]).runs
    evaluation = runs[runs["seed"].isin(range(10, 18))]
    recall = {v: g["test/recall_acc"].to_numpy(float) for v, g in evaluation.groupby("variant")}
    one, two, three = (recall[f"mingru_l{n}"] for n in (1, 2, 3))
    assert (f"test recall accuracy {one.mean():.2f} with one layer, {two.mean():.2f} with two and "
            f"{three.mean():.2f} with three") in readme
    primary = pd.read_csv(STUDY / "report" / "primary.csv")
    exact = 2 / math.comb(16, 8)
    for deeper, row in zip((two, three), primary.itertuples(), strict=True):
        assert deeper.min() > one.max()  # every deeper run beat every one-layer run
        assert row.p == pytest.approx(exact) and row.p_holm == pytest.approx(2 * exact)
    assert f"Holm p = {2 * exact:.2g} each" in readme
    assert (evaluation["status"] != "solved").all() and max(map(max, recall.values())) < 0.99
    assert f"(exploratory): {three.mean():.2f} against {two.mean():.2f}" in readme
    lrs = sorted(set(runs[runs["seed"] < 10]["config.optimizer.lr"]))
    assert lrs == [0.0003, 0.001, 0.003, 0.01]
    assert set(evaluation[evaluation["variant"] == "mingru_l1"]["config.optimizer.lr"]) == {0.001}
    assert len(runs) == 48 and len(evaluation) == 24
    assert set(runs["git_commit"]) == {"bfee0b237f89dcafad981514b34068d85e551972"}
    start = pd.to_datetime(runs["started_at"].min(), unit="s").strftime("%H:%M")
    end = pd.to_datetime(runs["ended_at"].max(), unit="s").strftime("%H:%M")
    assert (f"{start}-{end} UTC on 2026-12-07, {runs['wall_time_s'].sum() / 3600:.1f} h") in readme
    ledger = " ".join((ROOT / "results" / "ledger.md").read_text().split())
    assert (f"test recall accuracy {one.mean():.2f} / {two.mean():.2f} / {three.mean():.2f} with "
            f"1 / 2 / 3 layers (pre-registered M1, M2: Holm p = {2 * exact:.2g} each)") in ledger
