"""The reference study's README (results/reference_study/README.md) states only what its
committed records carry: its headline numbers are recomputed here from the records with the
report's own selection and statistics (no plots), so the write-up cannot drift from the data."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatebench.report import load_runs, summarize
from gatebench.report.cost import cost_table
from gatebench.report.records import apply_filters, parse_filters
from gatebench.report.selection import select
from gatebench.report.stopping import stopping_table

REPO = Path(__file__).resolve().parent.parent
STUDY = REPO / "results" / "reference_study"
LONG = REPO / "results" / "reference_study_long"


def _driver():
    spec = importlib.util.spec_from_file_location("reference_study_readme",
                                                  REPO / "scripts" / "reference_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*/results.json")]


def _span_min(records: list[dict]) -> float:
    """Minutes from the first run's start to the last run's end."""
    start = min(datetime.fromisoformat(r["started_at"]) for r in records)
    end = max(datetime.fromisoformat(r["ended_at"]) for r in records)
    return (end - start).total_seconds() / 60


def _g(x: float) -> str:
    return f"{x:.2g}"


@pytest.fixture(scope="module")
def study():
    records = load_runs([STUDY])
    chosen = select(records.runs, "val", ["optimizer.lr"])
    summary = summarize(chosen.runs, reference="lstm").set_index(["task", "length", "variant"])
    readme = " ".join((STUDY / "README.md").read_text().split())  # lines joined
    return records, chosen, summary, readme


def _question(records, name: str) -> pd.DataFrame:
    """The summary of one focused report, with the driver's own filters and reference."""
    _, args = _driver().QUESTION_REPORTS[name]
    filters = parse_filters([args[i + 1] for i, a in enumerate(args) if a == "--filter"])
    reference = args[args.index("--reference") + 1]
    runs = apply_filters(records.runs, filters)
    chosen = select(runs, "val", ["optimizer.lr"]).runs
    return summarize(chosen, reference=reference).set_index(["length", "variant"])


def test_the_study_is_complete_and_every_cell_got_the_same_budget(study):
    records, chosen, summary, readme = study
    driver = _driver()
    per_length = len(driver.LRS) * len(driver.TUNING_SEEDS) + len(driver.EVALUATION_SEEDS)
    design = sum(len(c.lengths) * per_length for c in driver.chains())
    assert len(records.runs) == design == 279 and "279 runs" in readme
    assert set(chosen.chosen["n_settings"]) == {3} and set(chosen.chosen["tuning_seeds"]) == {2}
    assert (summary["n_runs"] == 5).all()
    minutes = sum(json.loads(p.read_text())["wall_time_s"] for p in STUDY.glob("*/results.json"))
    assert f"summed `wall_time_s` is {minutes / 60:.0f} min" in readme
    every = _records(STUDY)
    assert f"first-start-to-last-end span of {_span_min(every):.0f} min" in readme
    last = [r for r in every if r["started_at"] >= "2026-12-04T10"]  # this session's runs
    assert len(last) == 39 and {r["task"]["name"] for r in last} == {"copy"}
    assert {r["seed"] for r in last} == {2, 3, 4}
    assert f"evaluation seeds) took {_span_min(last):.0f} min (first start" in readme
    long = _records(LONG)
    assert f"20 runs took {_span_min(long):.0f} min (summed `wall_time_s` " \
        f"{sum(r['wall_time_s'] for r in long) / 60:.0f} min)" in readme


def test_how_far_back_on_adding(study):
    records, chosen, summary, readme = study
    for n in (100, 200, 400):
        assert summary.loc[("adding", n, "rnn"), "n_solved"] == 0
        gru = summary.loc[("adding", n, "gru")]
        assert gru["n_solved"] == 5 and gru["km_median_steps"] == 250
    assert "0/5 at T = 100, 200, 400; Wilson [0, 0.43]" in readme
    rnn = {n: summary.loc[("adding", n, "rnn"), "norm_loss"] for n in (100, 200, 400)}
    assert f"test norm_loss {rnn[100]:.3g}" in readme
    assert f"(norm_loss {rnn[200]:.3g} and {rnn[400]:.3g})" in readme
    endings = stopping_table(chosen.runs, records.curves).set_index(["task", "length", "variant"])
    assert endings.loc[("adding", 100, "rnn"), "still_improving"] == 5
    assert all(endings.loc[("adding", n, "rnn"), "plateau"] == 5 for n in (200, 400))
    lstm = summary.loc[("adding", 400, "lstm")]
    assert [summary.loc[("adding", n, "lstm"), "n_solved"] for n in (100, 200, 400)] == [5, 5, 2]
    assert f"2/5 at T = 400 (Wilson [{lstm['solved_ci_low']:.2f}, {lstm['solved_ci_high']:.2f}]" \
        in readme
    assert endings.loc[("adding", 400, "lstm"), "plateau"] == 3
    p = summary.loc[("adding", 200, "rnn"), "p_welch_holm"]
    assert f"Holm p = {p:.2g})" in readme and p < 0.05
    gru = summary.loc[("adding", 400, "gru")]
    assert f"Boschloo p = {gru['p_solved']:.2g} before correction" in readme
    assert gru["p_solved_holm"] >= 0.05
    # "the one adding difference that survives Holm"
    adding = summary.loc["adding"]
    survivors = [(key, t) for key, row in adding.iterrows() for t in ("welch", "mwu", "solved",
                 "logrank") if row[f"p_{t}_holm"] < 0.05]  # fmt: skip
    assert survivors == [((200, "rnn"), "welch")]


def test_how_far_back_on_copy(study):
    records, chosen, summary, readme = study
    rnn = [summary.loc[("copy", n, "rnn"), "mean"] for n in (50, 100, 200)]
    assert f"(recall accuracy {rnn[0]:.3g}, {rnn[1]:.3g}, {rnn[2]:.2g}" in readme
    assert all(abs(x - 0.125) < 0.01 for x in rnn)
    gru = [summary.loc[("copy", n, "gru"), "mean"] for n in (50, 100, 200)]
    lstm = [summary.loc[("copy", n, "lstm"), "mean"] for n in (50, 100, 200)]
    assert f"recalls {gru[0]:.3g} at T = 50" in readme
    assert f"{gru[1]:.2g} at T = 100 and {gru[2]:.2g} at T = 200" in readme
    assert f"the LSTM {lstm[0]:.3g}, {lstm[1]:.3g} and {lstm[2]:.3g}" in readme
    assert summary.loc[("copy", 50, "gru"), "n_solved"] == 4
    p100, p200 = (summary.loc[("copy", n, "gru"), "p_welch_holm"] for n in (100, 200))
    assert f"T = 100 (Welch, Holm p = {p100:.2g}) and T = 200 (Holm p = {p200:.2g})" in readme
    assert max(p100, p200) < 0.05
    p50 = summary.loc[("copy", 50, "gru"), "p_welch_holm"]
    assert f"not at T = 50 (Holm p = {p50:.2g})" in readme and p50 >= 0.05
    endings = stopping_table(chosen.runs, records.curves).set_index(["task", "length", "variant"])
    assert all(endings.loc[("copy", n, "gru"), "still_improving"] == 5 for n in (100, 200))
    m = int(summary["family_size"].iloc[0])
    assert f"m = {m} in `report.md`" in readme and f"m = {m}," in readme


def test_initialisation_question(study):
    records, _, _, readme = study
    q = _question(records, "rnn_init")
    m = int(q["family_size"].iloc[0])
    assert f"Holm over its m = {m} comparisons" in readme
    irnn = q.loc[(100, "irnn")]
    assert irnn["n_solved"] == 4 and q.loc[(100, "rnn"), "n_solved"] == 0
    assert f"solves 4/5 (Wilson [{irnn['solved_ci_low']:.2f}, {irnn['solved_ci_high']:.2f}])" \
        in readme
    assert f"Boschloo p = {irnn['p_solved']:.2g} before correction, Holm p = " \
        f"{irnn['p_solved_holm']:.2g}" in readme
    assert irnn["p_solved_holm"] >= 0.05
    orth = q.loc[(100, "rnn_orth")]
    assert orth["n_solved"] == 0
    rnn = q.loc[(100, "rnn"), "norm_loss"]
    assert f"norm_loss {orth['norm_loss']:.3g} against the RNN's {rnn:.3g}" in readme
    assert q.loc[(400, "irnn"), "n_solved"] == 1 and q.loc[(400, "irnn"), "n_diverged"] == 1
    assert q.loc[(400, "rnn_orth"), "n_solved"] == 0
    assert f"(norm_loss {q.loc[(400, 'rnn_orth'), 'norm_loss']:.3g})" in readme
    diverged = records.runs[(records.runs["variant"] == "irnn")
                            & (records.runs["status"] == "diverged")]  # fmt: skip
    assert len(diverged) == 4  # 1 at the selected setting + "3 IRNN tuning runs"


def test_fair_lstm_question(study):
    records, _, summary, readme = study
    q = _question(records, "fair_lstm")
    assert f"Holm over its m = {int(q['family_size'].iloc[0])} comparisons" in readme
    at = {n: {v: summary.loc[("copy", n, v), "mean"] for v in ("lstm_fb1", "lstm_chrono", "lstm")}
          for n in (100, 200)}  # fmt: skip
    assert f"recall {at[100]['lstm_fb1']:.3g} (fb1) and {at[100]['lstm_chrono']:.3g} (chrono) " \
        f"against the plain LSTM's {at[100]['lstm']:.3g}" in readme
    assert f"{at[200]['lstm_fb1']:.3g} and {at[200]['lstm_chrono']:.3g} against " \
        f"{at[200]['lstm']:.3g} at T = 200" in readme
    for n in (100, 200):
        for v in ("lstm_fb1", "lstm_chrono"):
            assert min(summary.loc[("copy", n, v), [f"p_{t}_holm" for t in ("welch", "mwu",
                                                                           "solved")]]) == 1
    rows = q.drop(index=[(100, "gru"), (200, "gru")])
    worst = rows["p_welch_holm"].max()
    assert f"the largest Welch Holm p is {worst:.2g}" in readme and worst < 0.05
    assert (rows["p_superiority"] == 0).all()
    assert f"exact p = {rows['p_mwu'].max():.2g} before correction" in readme
    assert (rows["p_mwu_holm"] >= 0.05).all()


def test_greff_question(study):
    _, _, summary, readme = study
    t200 = summary.loc[("adding", 200)]
    assert [t200.loc[v, "n_solved"] for v in ("peephole", "cifg", "nfg", "lstm", "noaf")] == \
        [5, 5, 5, 5, 4]
    for v in ("peephole", "cifg", "nfg", "noaf"):
        assert all(t200.loc[v, f"p_{t}_holm"] >= 0.05 for t in ("welch", "mwu", "solved",
                                                                "logrank"))
    steps = {v: int(t200.loc[v, "km_median_steps"]) for v in ("cifg", "lstm", "peephole", "nfg")}
    assert steps["cifg"] == min(steps.values())
    assert (f"Kaplan-Meier median {steps['cifg']} steps, LSTM {steps['lstm']}, peephole "
            f"{steps['peephole']}, NFG {steps['nfg']}, NOAF "
            f"{int(t200.loc['noaf', 'km_median_steps'])})") in readme


def _diagnostics(chosen) -> pd.DataFrame:
    rows = []
    for run in chosen.runs.itertuples():
        record = json.loads((Path(run.source) / "results.json").read_text())
        snaps = {s["label"]: s for s in (record.get("diagnostics") or {}).get("snapshots", [])}
        if not {"init", "end"} <= set(snaps):
            continue
        kept = [(s.get("retention_marked") or [math.nan])[0] for s in (snaps["init"],
                                                                      snaps["end"])]  # fmt: skip
        rows.append({"task": run.task, "T": run.length, "v": run.variant,
                     "h0": snaps["init"]["grad_ratio_h"], "h1": snaps["end"]["grad_ratio_h"],
                     "c1": snaps["end"].get("grad_ratio_c", math.nan),
                     "r0": kept[0], "r1": kept[1]})  # fmt: skip
    return pd.DataFrame(rows).groupby(["task", "T", "v"]).median()


def test_why_diagnostics(study):
    _, chosen, _, readme = study
    d = _diagnostics(chosen).loc["adding"]
    assert f"{_g(d.loc[(100, 'irnn'), 'h0'])} for the IRNN" in readme
    assert f"{_g(d.loc[(100, 'rnn_orth'), 'h0'])} for the orthogonal RNN" in readme
    others = d.loc[100].drop(index=["irnn", "rnn_orth"])["h0"]
    assert f"{_g(others.max())} or less for the other cells at T = 100" in readme
    for n in (200, 400):
        nonzero = set(d.loc[n].index[d.loc[n]["h0"] > 0])
        assert nonzero <= {"irnn", "nfg"}
    assert f"but the IRNN and NFG ({_g(d.loc[(200, 'nfg'), 'h0'])})" in readme
    assert f"{_g(d.loc[(100, 'lstm'), 'r0'])} for the LSTM and {_g(d.loc[(100, 'gru'), 'r0'])} " \
        "for the GRU at T = 100" in readme
    gru = [d.loc[(n, "gru")] for n in (100, 200, 400)]
    assert "ratio is " + " / ".join(_g(g["h1"]) for g in gru) in readme
    assert "retention " + " / ".join(_g(g["r1"]) for g in gru) in readme
    lstm = {n: d.loc[(n, "lstm")] for n in (100, 200, 400)}
    assert f"(ratio on c: {_g(lstm[100]['c1'])} at T = 100, {_g(lstm[200]['c1'])} at T = 200)" \
        f" with retention {_g(lstm[100]['r1'])} and {_g(lstm[200]['r1'])}" in readme
    assert f"ratio is {_g(lstm[400]['c1'])} and retention {_g(lstm[400]['r1'])}" in readme
    rnn = [d.loc[(n, "rnn"), "h1"] for n in (100, 200, 400)]
    assert f"end is {_g(rnn[0])} at T = 100" in readme and rnn[1] == rnn[2] == 0
    assert np.isfinite(d["h1"]).all()


def test_cost_claims(study):
    records, chosen, summary, readme = study
    params = {v: int(summary.loc[("adding", 100, v), "params"]) for v in ("rnn", "gru", "lstm")}
    assert f"RNN {params['rnn']}, GRU {params['gru']}, LSTM {params['lstm']}" in readme
    pm = summary.loc[("adding", 100, "rnn_pm")]
    assert int(pm["params"]) == params["lstm"] and pm["n_solved"] == 0
    assert f"(norm_loss {pm['norm_loss']:.2g}, no better than" in readme
    cost = cost_table(chosen.runs, records.curves).set_index(["task", "length", "variant"])
    at = {v: cost.loc[("adding", 400, v)] for v in ("gru", "lstm", "rnn")}
    assert (f"{at['gru']['ms_per_step']:.3g} ms for the GRU, {at['lstm']['ms_per_step']:.3g} ms "
            f"for the LSTM and {at['rnn']['ms_per_step']:.3g} ms") in readme
    assert (f"median {at['gru']['run_s_median']:.3g} s per run at T = 400 against the LSTM's "
            f"{at['lstm']['run_s_median']:.3g} s") in readme
    lstm100 = summary.loc[("adding", 100, "lstm"), "km_median_steps"]
    assert f"median {int(lstm100)} steps x 32 = {int(lstm100) * 32 // 1000}k sequences" in readme
    selected = chosen.chosen[chosen.chosen["variant"] == "gru"]["selected"]
    assert set(selected) == {"optimizer.lr=0.01"}  # "the grid's top everywhere"


def test_budget_check(study):
    _, chosen, _, readme = study
    picked = chosen.chosen.set_index(["task", "length", "variant"])["selected"]
    records = load_runs([LONG])
    assert len(records.runs) == 20
    assert set(records.runs["config.trainer.max_steps"]) == {20000}
    assert set(records.runs["length"]) == {100}
    # the same settings the study selected at copy T = 100
    for variant, lr in records.runs.groupby("variant")["config.optimizer.lr"]:
        assert set(lr) == {float(picked[("copy", 100, variant)].split("=")[1])}
    vs_lstm = summarize(records.runs, reference="lstm").set_index("variant")
    vs_gru = summarize(records.runs, reference="gru").set_index("variant")
    assert f"Holm over its m = {int(vs_lstm['family_size'].iloc[0])} comparisons" in readme
    assert f"reference `gru`, m = {int(vs_gru['family_size'].iloc[0])}.)" in readme
    mean = vs_lstm["mean"]
    assert (f"GRU {mean['gru']:.3g} ({int(vs_lstm.loc['gru', 'n_solved'])}/5 solved), chrono "
            f"LSTM {mean['lstm_chrono']:.3g}, forget-bias-1 LSTM {mean['lstm_fb1']:.3g}, plain "
            f"LSTM {mean['lstm']:.3g}") in readme
    assert f"Welch, Holm p = {vs_lstm.loc['gru', 'p_welch_holm']:.2g} in `report.md`" in readme
    assert vs_lstm.loc["gru", "p_welch_holm"] < 0.05
    fb1, chrono = vs_gru.loc["lstm_fb1"], vs_gru.loc["lstm_chrono"]
    assert f"Welch, Holm p = {fb1['p_welch_holm']:.2g} in `fair_lstm/`" in readme
    assert min(fb1[[f"p_{t}_holm" for t in ("welch", "mwu")]]) >= 0.05
    assert fb1["p_superiority"] == 0  # "every GRU seed beats every fb1 seed"
    assert f"nor over chrono (Holm p = {chrono['p_welch_holm']:.2g})" in readme
    endings = stopping_table(records.runs, records.curves).set_index("variant")
    assert f"{int(endings['still_improving'].sum())} of the 20 runs still improving" in readme
    assert endings.loc["lstm", "plateau"] == 3
    for v in ("lstm_fb1", "lstm_chrono"):
        row = endings.loc[v]
        assert row["still_improving"] == row["max_steps"]
    fb1_end, chrono_end = endings.loc["lstm_fb1"], endings.loc["lstm_chrono"]
    assert (f"fb1 {fb1_end['still_improving']}/{fb1_end['max_steps']}, chrono "
            f"{chrono_end['still_improving']}/{chrono_end['max_steps']}") in readme
    assert f"lift it from {mean['lstm']:.3g} to {mean['lstm_fb1']:.3g} and " \
        f"{mean['lstm_chrono']:.3g}" in readme


def test_main_readme_summary_matches_the_records(study):
    records, _, summary, _ = study
    main = " ".join((REPO / "README.md").read_text().split())
    assert f"the fair study ({len(records.runs)} runs," in main
    gru, lstm = summary.loc[("copy", 100, "gru")], summary.loc[("copy", 100, "lstm")]
    m = int(summary["family_size"].iloc[0])
    assert (f"recall {gru['mean']:.2g} vs the LSTM's {lstm['mean']:.2g} at T = 100, Holm p = "
            f"{gru['p_welch_holm']:.2g} over {m} comparisons") in main
    assert summary.loc[("adding", 400, "lstm"), "n_solved"] == 2
    assert all(summary.loc[("adding", n, "gru"), "n_solved"] == 5 for n in (100, 200, 400))
    assert all(summary.loc[("adding", n, "rnn"), "n_solved"] == 0 for n in (100, 200, 400))
    assert all(summary.loc[("adding", 400, v), "n_solved"] <= 1 for v in ("irnn", "rnn_orth"))
    # the front door's table: the evaluation seeds (2-4) of the settings selected on validation
    from gatebench.report.selection import select

    chosen = select(records.runs, "val", []).runs
    evaluation = summarize(chosen[chosen["seed"].isin([2, 3, 4])], reference="lstm")
    evaluation = evaluation.set_index(["task", "length", "variant"])
    assert (evaluation["n_runs"] == 3).all()
    for length in (100, 200, 400):
        row = " | ".join(f"{int(evaluation.loc[('adding', length, v), 'n_solved'])}/3"
                         for v in ("rnn", "lstm", "gru"))  # fmt: skip
        assert f"| adding, T = {length}: runs solved | {row} |" in main
    for length in (100, 200):
        row = " | ".join(f"{evaluation.loc[('copy', length, v), 'mean']:.2g}"
                         for v in ("rnn", "lstm", "gru"))  # fmt: skip
        assert f"T = {length}: recall accuracy" in main and f"| {row} |" in main
    long = summarize(load_runs([LONG]).runs, reference="lstm").set_index("variant")["mean"]
    assert (f"({long['lstm_fb1']:.2g} and {long['lstm_chrono']:.2g} vs {long['gru']:.2g})"
            in main)
