"""Steps-to-solve as censored data: Kaplan-Meier curves and medians, log-rank tests.

A solved run is an event at its `steps_to_solve`; a run that did not solve is right-censored:
a `finished` run at its last step (the step budget), a `diverged` run at the step budget too
(it stopped for good and can never solve, so "not solved within the budget" is what it
showed; censoring it earlier would treat it as if it might still have solved). A step count
is only known to the validation interval. Kaplan (1958) and Meier; Mantel (1966) log-rank;
all from `scipy.stats` (`ecdf` on `CensoredData`, `logrank`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gatebench.report.statistics import CONFIDENCE

BUDGET_COLUMN = "config.trainer.max_steps"
INTERVAL_COLUMN = "config.trainer.val_check_interval"


@dataclass(frozen=True)
class Times:
    """One group's solve times: `events` (steps at which runs solved) and `censored` (steps at
    which unsolved runs were last seen), plus the runs that could not be placed."""

    events: np.ndarray
    censored: np.ndarray
    unplaced: int = 0

    @property
    def n(self) -> int:
        return int(self.events.size + self.censored.size)


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan-Meier median steps to solve and its 95% interval (inf = not reached)."""

    median: float
    low: float
    high: float


def solve_times(group: pd.DataFrame) -> Times:
    """Events and censoring times of a group's runs (failed runs are not outcomes: left out).

    A `solved` run without `steps_to_solve`, or an unsolved run without `steps`, cannot be
    placed and is counted in `unplaced` (the report lists such records).
    """

    def column(name: str) -> np.ndarray:
        if name not in group.columns:
            return np.full(len(group), np.nan)
        return pd.to_numeric(group[name], errors="coerce").to_numpy(dtype=float)

    status = group["status"].to_numpy()
    to_solve, last, budget = column("steps_to_solve"), column("steps"), column(BUDGET_COLUMN)
    solved = status == "solved"
    unsolved = (status == "finished") | (status == "diverged")
    # a diverged run is censored at the budget when known, else at its last step
    at = np.where((status == "diverged") & np.isfinite(budget), budget, last)
    events = to_solve[solved & np.isfinite(to_solve)]
    censored = at[unsolved & np.isfinite(at)]
    unplaced = int((solved & ~np.isfinite(to_solve)).sum() + (unsolved & ~np.isfinite(at)).sum())
    return Times(events, censored, unplaced)


def _censored_data(times: Times):  # -> scipy.stats.CensoredData
    from scipy import stats

    return stats.CensoredData(uncensored=times.events, right=times.censored)


def kaplan_meier(times: Times, confidence: float = CONFIDENCE) -> KaplanMeier:
    """KM median (the first step where the fraction still unsolved is <= 0.5) and the
    Brookmeyer-Crowley (1982) interval read off scipy's log-log pointwise band: its ends are the
    first steps where the band's lower and upper curves reach 0.5 (inf: not reached)."""
    if times.n == 0:
        return KaplanMeier(math.nan, math.nan, math.nan)
    if times.events.size == 0:
        return KaplanMeier(math.inf, math.inf, math.inf)
    import warnings

    from scipy import stats

    sf = stats.ecdf(_censored_data(times)).sf
    steps, surv = sf.quantiles, sf.probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band = sf.confidence_interval(confidence_level=confidence, method="log-log")
    low_band = np.where(np.isfinite(band.low.probabilities), band.low.probabilities, surv)
    high_band = np.where(np.isfinite(band.high.probabilities), band.high.probabilities, surv)
    return KaplanMeier(
        median=_first_at_or_below(steps, surv, 0.5),
        low=_first_at_or_below(steps, low_band, 0.5),
        high=_first_at_or_below(steps, high_band, 0.5),
    )


def _first_at_or_below(steps: np.ndarray, curve: np.ndarray, level: float) -> float:
    below = np.flatnonzero(curve <= level + 1e-12)
    return float(steps[below[0]]) if below.size else math.inf


def survival_curve(times: Times) -> tuple[np.ndarray, np.ndarray]:
    """(steps, fraction still unsolved) as a right-continuous step function from (0, 1)."""
    if times.n == 0:
        return np.array([]), np.array([])
    if times.events.size == 0:
        return np.array([0.0, float(times.censored.max())]), np.array([1.0, 1.0])
    from scipy import stats

    sf = stats.ecdf(_censored_data(times)).sf
    return np.concatenate([[0.0], sf.quantiles]), np.concatenate([[1.0], sf.probabilities])


def logrank_p(times: Times, reference: Times) -> float:
    """Two-sided log-rank p (`scipy.stats.logrank`); NaN when a side is empty or no run of
    either side solved (no event: nothing to compare)."""
    if times.n == 0 or reference.n == 0 or times.events.size + reference.events.size == 0:
        return math.nan
    import warnings

    from scipy import stats

    with warnings.catch_warnings():  # zero variance (e.g. every run solved at one step): NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.logrank(_censored_data(times), _censored_data(reference)).pvalue)
    return p if math.isfinite(p) else math.nan


def validation_interval(runs: pd.DataFrame) -> str:
    """The validation interval(s) of the runs, e.g. `250`, or `unknown`."""
    if INTERVAL_COLUMN not in runs.columns:
        return "unknown"
    values = pd.to_numeric(runs[INTERVAL_COLUMN], errors="coerce").dropna().unique()
    if len(values) == 0:
        return "unknown"
    return ", ".join(f"{v:g}" for v in sorted(values))
