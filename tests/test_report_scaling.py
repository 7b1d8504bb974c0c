"""gatebench.report.scaling against synthetic records whose law is known.

Steps to solve are drawn from a Weibull with scale c T^b and shape rho (numpy, fixed seed),
seen at the next validation and censored at a step budget as a study records them; the fit must
recover b inside its interval, and the censored runs must be used as censored (dropping them,
counting them as solved at the budget, or reading a validation step as the exact solve time
biases the exponent out of that interval).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gatebench.report import scaling

B, RHO, C = 1.5, 2.0, 0.5  # median steps = C T^B (ln 2)^(1/RHO)
LENGTHS = (50, 100, 200, 400)
BUDGET = 3000


def records(exponent: float = B, seeds: int = 40, budget: int = BUDGET, seed: int = 0,
            variant: str = "lstm_fb1", every: int = 1,
            scale: float = C) -> pd.DataFrame:  # fmt: skip
    """A runs frame as `gatebench.report.records.load_runs` makes it: solved runs at the first
    validation (every `every` steps) at or after their time, unsolved ones `finished` at the
    budget."""
    rng = np.random.default_rng(seed)
    rows = []
    for length in LENGTHS:
        times = scale * length**exponent * rng.weibull(RHO, size=seeds)
        for s, t in enumerate(times):
            seen = every * math.ceil(t / every)
            solved = seen <= budget
            rows.append({
                "variant": variant, "task": "adding", "hidden_size": 32, "length": length,
                "seed": s, "status": "solved" if solved else "finished",
                "steps_to_solve": float(seen) if solved else math.nan,
                "steps": int(seen) if solved else budget,
                "config.trainer.max_steps": budget,
                "config.trainer.val_check_interval": every,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_the_fit_recovers_the_exponent_and_the_median_with_censoring() -> None:
    runs = records()
    frame = scaling.censored_frame(runs)
    censored = int((frame["event"] == 0).sum())
    assert censored > 20  # T = 400: median 0.5 * 8000 * 0.83 = 3330 > budget: most censored
    (law,) = scaling.fit_laws(frame)
    assert law.low < B < law.high
    assert law.high - law.low < 0.4
    assert abs(law.shape - RHO) < 0.6
    assert law.solved == len(frame) - censored and law.runs == len(frame) == 160
    # the law's median at T = 100 against the known one
    truth = C * 100**B * math.log(2) ** (1 / RHO)
    assert abs(law.median_at(100) / truth - 1) < 0.2


def test_censored_runs_count_as_censored() -> None:
    runs = records()
    frame = scaling.censored_frame(runs)
    (law,) = scaling.fit_laws(frame)
    # dropping the unsolved runs (solved runs only) flattens the law below the interval
    dropped = scaling.fit_law(frame[frame["event"] == 1], "x", "adding", 32)
    assert dropped.exponent < law.low
    # treating them as solved at the budget also flattens it
    as_solved = scaling.fit_law(frame.assign(event=1, upper=frame["duration"]), "x", "adding", 32)
    assert as_solved.exponent < law.low


def test_a_solve_seen_at_a_validation_is_interval_censored() -> None:
    """Validation every 100 steps and a cell that solves within the first one or two at short
    lags (as the GRU did on adding): the interval fit recovers b; reading the validation step as
    the exact solve time flattens the law out of the interval."""
    runs = records(exponent=0.8, seeds=40, budget=10**5, seed=11, every=100, scale=3.0)
    frame = scaling.censored_frame(runs)
    solved = frame[frame["event"] == 1]
    assert ((solved["upper"] - solved["lower"]) == 100).all()
    assert (frame.loc[frame["length"] == 50, "duration"] == 100).mean() > 0.6
    (law,) = scaling.fit_laws(frame)
    assert law.low < 0.8 < law.high
    exact = scaling.fit_law(frame.assign(lower=frame["duration"]), "x", "adding", 32)
    assert exact.exponent < law.low


def test_rows_follow_the_survival_rule_and_the_seed_filter() -> None:
    runs = pd.DataFrame([
        {"variant": "gru", "task": "copy", "hidden_size": 32, "length": 50, "seed": 10,
         "status": "solved", "steps_to_solve": 750.0, "steps": 750,
         "config.trainer.max_steps": 4000},
        {"variant": "gru", "task": "copy", "hidden_size": 32, "length": 50, "seed": 11,
         "status": "diverged", "steps_to_solve": math.nan, "steps": 300,
         "config.trainer.max_steps": 4000},
        {"variant": "gru", "task": "copy", "hidden_size": 32, "length": 50, "seed": 12,
         "status": "failed", "steps_to_solve": math.nan, "steps": 10,
         "config.trainer.max_steps": 4000},
        {"variant": "gru", "task": "copy", "hidden_size": 32, "length": 50, "seed": 0,
         "status": "solved", "steps_to_solve": 250.0, "steps": 250,
         "config.trainer.max_steps": 4000},
    ])  # fmt: skip
    frame = scaling.censored_frame(runs, seeds=range(10, 20))
    assert frame[["seed", "duration", "event"]].values.tolist() == [[10, 750.0, 1],
                                                                    [11, 4000.0, 0]]


def test_km_medians_and_what_cannot_be_fitted() -> None:
    frame = scaling.censored_frame(records(seeds=30))
    table = scaling.km_table(frame)
    at100 = table[table["length"] == 100].iloc[0]
    truth = C * 100**B * math.log(2) ** (1 / RHO)
    assert at100["low"] <= truth <= at100["high"]
    at400 = table[table["length"] == 400].iloc[0]
    assert at400["solved"] < 15 and at400["median"] == math.inf  # median beyond the budget
    one_lag = scaling.fit_law(frame[frame["length"] == 50], "x", "adding", 32)
    assert math.isnan(one_lag.exponent) and "2 lags" in one_lag.note


@pytest.mark.parametrize("exponent", [0.5, 2.0])
def test_other_exponents(exponent: float) -> None:
    runs = records(exponent=exponent, seeds=30, budget=int(C * 400**exponent * 1.5), seed=3)
    (law,) = scaling.fit_laws(scaling.censored_frame(runs))
    assert law.low < exponent < law.high


def test_the_plot_and_tables_write(tmp_path) -> None:
    frame = scaling.censored_frame(pd.concat([records(seeds=12), records(seeds=12, seed=1,
                                                                         variant="gru")]))
    laws = scaling.fit_laws(frame)
    table = scaling.km_table(frame)
    files = scaling.plot_scaling(frame, laws, table, tmp_path / "scaling.png")
    assert all(f.stat().st_size > 1000 for f in files)
    text = scaling.laws_markdown(laws)
    assert "| gru | adding | 32 |" in text and "| lstm_fb1 | adding | 32 |" in text
    assert "not reached" in scaling.km_markdown(table)


def test_the_pre_registered_contrast_of_two_exponents() -> None:
    runs = pd.concat([records(exponent=1.0, seeds=30, budget=10**6, seed=5, variant="gru"),
                      records(exponent=1.5, seeds=30, budget=10**6, seed=6, variant="lstm"),
                      records(exponent=1.5, seeds=30, budget=10**6, seed=7, variant="cifg")])
    laws = scaling.fit_laws(scaling.censored_frame(runs))
    for law in laws:  # the Wald interval is exponent -/+ 1.96 se
        assert law.high - law.low == pytest.approx(2 * 1.959964 * law.se, rel=1e-4)
    gru_lstm, cifg_lstm, missing = scaling.compare_exponents(
        laws, [("gru", "lstm"), ("cifg", "lstm"), ("mingru", "lstm")], "adding", 32)
    assert gru_lstm.low < -0.5 < gru_lstm.high and gru_lstm.p < 1e-3
    assert cifg_lstm.low < 0 < cifg_lstm.high
    assert math.isnan(missing.p) and math.isnan(missing.holm_p)
    # Holm over the two finite p-values: the smaller doubled, the larger kept (if above)
    small, large = sorted([gru_lstm.p, cifg_lstm.p])
    assert min(gru_lstm.holm_p, cifg_lstm.holm_p) == pytest.approx(min(1, 2 * small))
    assert max(gru_lstm.holm_p, cifg_lstm.holm_p) == pytest.approx(max(min(1, 2 * small), large))


def test_the_primary_family_on_common_lags_only() -> None:
    """A cell whose learning time is flat below T = 100 and grows as T^1.5 above it: fitted on
    every lag its exponent is biased low against a pure T^1.5 cell; on 100-400 they agree."""
    kinked = records(exponent=B, seeds=40, budget=10**6, seed=8, variant="gru")
    at_100 = kinked["length"] == 100
    flat = kinked["length"] == 50
    kinked.loc[flat, "steps_to_solve"] = kinked.loc[at_100, "steps_to_solve"].to_numpy()
    kinked.loc[flat, "steps"] = kinked.loc[at_100, "steps"].to_numpy()
    pure = records(exponent=B, seeds=40, budget=10**6, seed=9, variant="lstm")
    frame = scaling.censored_frame(pd.concat([kinked, pure]))
    (everywhere,) = scaling.primary_family(frame, [("gru", "lstm")], "adding", 32)
    (common,) = scaling.primary_family(frame, [("gru", "lstm")], "adding", 32, [100, 200, 400])
    assert everywhere.high < 0  # the flat stretch pulls the exponent down
    assert common.low < 0 < common.high
    with pytest.raises(ValueError, match=r"--lags: \[800\] not among the study's lags"):
        scaling.primary_family(frame, [("gru", "lstm")], "adding", 32, [400, 800])
