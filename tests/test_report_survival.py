"""Steps to solve as censored data: Kaplan-Meier median and log-rank p against hand formulas
and scipy, on a fixture sweep whose unsolved runs are censored."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.report.builder import _record, write_run
from scipy import stats

from gatebench.report import load_runs, summarize
from gatebench.report.survival import Times, kaplan_meier, logrank_p, solve_times, survival_curve

BUDGET = 1000
# variant -> per seed: steps_to_solve, or None (finished unsolved at BUDGET), or "div" (diverged)
OUTCOMES = {
    "lstm": [300, 500, None, 700, None, "div"],
    "gru": [100, 200, 200, 300, 400, None],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("censored")
    for variant, outcomes in OUTCOMES.items():
        for seed, outcome in enumerate(outcomes):
            record = _record("adding", 20, variant, seed, "val/mse", "min", 1 / 6)
            record["config"]["trainer"] = {"max_steps": BUDGET, "val_check_interval": 100}
            value = 0.001 if isinstance(outcome, int) else 0.1
            record.update(final={"val/mse": value}, norm_loss=value * 6, steps=BUDGET)
            if isinstance(outcome, int):
                record.update(status="solved", steps=outcome, steps_to_solve=outcome)
            elif outcome == "div":
                record.update(status="diverged", steps=150, final={})
            else:
                record.update(status="finished")
            write_run(root / f"{variant}-{seed}", record, None)
    return load_runs([root]).runs


def _km_by_hand(events: list[float], censored: list[float]) -> tuple[list[float], list[float]]:
    """Product-limit estimate S(t) = prod (1 - d_i / n_i) over event times (censored at t stay
    at risk at t)."""
    times = sorted(set(events))
    surv, s = [], 1.0
    for t in times:
        at_risk = sum(e >= t for e in events) + sum(c >= t for c in censored)
        s *= 1 - events.count(t) / at_risk
        surv.append(s)
    return times, surv


def _logrank_by_hand(a: tuple[list, list], b: tuple[list, list]) -> float:
    """Mantel's log-rank chi-square: (O_a - E_a)^2 / V over the pooled event times."""
    times = sorted(set(a[0]) | set(b[0]))
    o_minus_e, variance = 0.0, 0.0
    for t in times:
        n_a = sum(x >= t for x in a[0] + a[1])
        n_b = sum(x >= t for x in b[0] + b[1])
        d_a, d = a[0].count(t), a[0].count(t) + b[0].count(t)
        n = n_a + n_b
        o_minus_e += d_a - d * n_a / n
        if n > 1:
            variance += d * (n_a / n) * (n_b / n) * (n - d) / (n - 1)
    return float(stats.chi2.sf(o_minus_e**2 / variance, 1))


def test_unsolved_runs_are_censored_at_the_step_budget(runs):
    lstm = solve_times(runs[runs["variant"] == "lstm"])
    assert sorted(lstm.events) == [300, 500, 700]
    assert sorted(lstm.censored) == [BUDGET] * 3  # two finished + the diverged one
    assert lstm.unplaced == 0


def test_kaplan_meier_median_equals_the_product_limit_estimate(runs):
    summary = summarize(runs).set_index("variant")
    for variant, outcomes in OUTCOMES.items():
        events = [float(o) for o in outcomes if isinstance(o, int)]
        censored = [float(BUDGET)] * (len(outcomes) - len(events))
        times, surv = _km_by_hand(events, censored)
        median = next((t for t, s in zip(times, surv, strict=True) if s <= 0.5), math.inf)
        assert summary.loc[variant, "km_median_steps"] == median
        steps, fraction = survival_curve(solve_times(runs[runs["variant"] == variant]))
        at_events = dict(zip(steps, fraction, strict=True))
        assert [at_events[t] for t in times] == pytest.approx(surv)
    assert summary.loc["lstm", "km_median_steps"] == 700  # S = 5/6, 4/6, 3/6 at 300, 500, 700
    assert summary.loc["gru", "km_median_steps"] == 200
    # the median over solved runs only (the old report) would say 500 for lstm


def test_kaplan_meier_interval_is_read_off_scipys_band(runs):
    times = solve_times(runs[runs["variant"] == "gru"])
    sf = stats.ecdf(stats.CensoredData(uncensored=times.events, right=times.censored)).sf
    band = sf.confidence_interval(method="log-log")
    low = sf.quantiles[np.flatnonzero(band.low.probabilities <= 0.5)[0]]
    high_at = np.flatnonzero(band.high.probabilities <= 0.5)
    high = sf.quantiles[high_at[0]] if high_at.size else math.inf
    km = kaplan_meier(times)
    assert (km.low, km.high) == (low, high)
    assert km.low <= km.median <= km.high


def test_logrank_p_equals_scipy_and_the_hand_formula(runs):
    summary = summarize(runs).set_index("variant")
    gru = solve_times(runs[runs["variant"] == "gru"])
    lstm = solve_times(runs[runs["variant"] == "lstm"])
    want = stats.logrank(
        stats.CensoredData(uncensored=gru.events, right=gru.censored),
        stats.CensoredData(uncensored=lstm.events, right=lstm.censored),
    ).pvalue
    assert summary.loc["gru", "p_logrank"] == pytest.approx(want, rel=1e-12)
    by_hand = _logrank_by_hand(
        (list(gru.events), list(gru.censored)), (list(lstm.events), list(lstm.censored))
    )
    assert summary.loc["gru", "p_logrank"] == pytest.approx(by_hand, rel=1e-9)
    assert summary.loc["gru", "val_interval"] == "100"


def test_no_event_on_either_side_gives_no_logrank():
    never = Times(np.array([]), np.array([100.0, 100.0]))
    assert math.isnan(logrank_p(never, never))
    assert kaplan_meier(never).median == math.inf
