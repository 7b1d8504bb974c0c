"""The ledger's H&S 1997 row, recomputed from results/hs1997_adding's records."""

from __future__ import annotations

from pathlib import Path

from scipy.stats import binomtest

from gatebench.report import scaling
from gatebench.report.records import load_runs

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "hs1997_adding"
BATCH, BUDGET, PAPER = 32, 8000, 74_000


def test_the_hs1997_row_is_the_records() -> None:
    ledger = " ".join((ROOT / "results" / "ledger.md").read_text().split())
    runs = load_runs([STUDY]).runs
    seeds = scaling.evaluation_seeds(STUDY)
    assert seeds == list(range(10, 20))
    frame = scaling.censored_frame(runs, seeds)
    assert len(frame) == 20 and set(frame["length"]) == {100}
    old = frame[frame["variant"] == "lstm1997"]
    k = int(old["event"].sum())
    ci = binomtest(k, 10).proportion_ci(method="wilson")
    at = sorted(int(d) * BATCH for d in old[old["event"] == 1]["duration"])
    shown = " and ".join(f"{n:,}" for n in at)
    assert (f"solved {k}/10 [Wilson 95%: {ci.low:.2g}, {ci.high:.2g}] within "
            f"{BUDGET * BATCH:,} sequences ({BUDGET} steps of {BATCH}), at {shown};") in ledger
    table = scaling.km_table(frame)
    assert (table["median"] == float("inf")).all()  # "Kaplan-Meier median not reached"
    tuning = scaling.censored_frame(runs[~runs["seed"].isin(seeds)])
    tuned = tuning[tuning["variant"] == "lstm1997"]
    solved = tuned[tuned["event"] == 1]["duration"] * BATCH
    assert (f"solved {int(tuned['event'].sum())} of {len(tuned)}, at {int(solved.min()):,}-"
            f"{int(solved.max()):,} sequences") in ledger  # fmt: skip
    fb1 = frame[frame["variant"] == "lstm_fb1"]
    fb1_tuning = tuning[tuning["variant"] == "lstm_fb1"]
    assert fb1["event"].sum() == 0 and fb1_tuning["event"].sum() == 0 and len(fb1_tuning) == 10
    loss = runs[runs["seed"].isin(seeds) & (runs["variant"] == "lstm_fb1")]["test_norm_loss"]
    assert f"(norm_loss {loss.min():.2f}-{loss.max():.2f})" in ledger
    assert f"within {BUDGET * BATCH / PAPER:.1f}x the paper's mean" in ledger
    assert set(runs["git_commit"]) == {"48e22da8ab5c4fa0b26b37c1311b10e8afec2b7f"}
