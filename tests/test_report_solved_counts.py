"""Solved rate and median steps-to-solve of the report, through the public API (`load_runs`,
`summarize`), on records that mix solved, unsolved (finished), diverged and failed runs.

Expected values by hand: the solved rate is solved / (runs - failed): a failed run is an
exception, not an outcome, and a diverged run is an unsolved outcome. Steps-to-solve: the
median over solved runs; the fixtures are chosen so that the Kaplan-Meier median with unsolved
runs censored at their last step is the same number (S(t) first reaches 1/2 there), while the
median over every run's steps is not.
"""

from __future__ import annotations

import math

import pytest
from fixtures.report.builder import _record, write_run

from gatebench.report import load_runs, summarize

# variant -> [(status, steps, steps_to_solve)]
RUNS = {
    "lstm": [("solved", 100, 100), ("solved", 200, 200), ("solved", 300, 300),
             ("finished", 1000, None)],
    "gru": [("solved", 150, 150), ("finished", 1000, None), ("diverged", 40, None),
            ("failed", 0, None)],
    "rnn": [("finished", 1000, None), ("finished", 1000, None), ("diverged", 500, None),
            ("failed", 0, None), ("failed", 0, None)],
}  # fmt: skip
EXPECTED = {
    # variant: (n_solved, n_finished, n_diverged, n_failed, solved rate, median steps)
    "lstm": (3, 1, 0, 0, 3 / 4, 200.0),
    "gru": (1, 1, 1, 1, 1 / 3, 150.0),
    "rnn": (0, 2, 1, 2, 0 / 3, None),  # 0/3: the rate is 0 either way, its counts are not
}


@pytest.fixture  # per test: mutmut maps a function to the tests that run it
def summary(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    job = 0
    for variant, runs in RUNS.items():
        for seed, (status, steps, steps_to_solve) in enumerate(runs):
            record = _record("adding", 10, variant, seed, "mse", "min", 1 / 6)
            record.update(status=status, steps=steps, steps_to_solve=steps_to_solve)
            if status in ("solved", "finished"):
                mse = 0.001 * (seed + 1) if status == "solved" else 0.1
                record.update(final={"val/mse": mse, "val/norm_loss": mse * 6},
                              test={"test/mse": mse, "test/norm_loss": mse * 6},
                              norm_loss=mse * 6)
            else:
                record.update(message=f"{status} on purpose")
            write_run(root / str(job), record, None)
            job += 1
    table = summarize(load_runs([root]).runs, reference="lstm")
    return table.set_index("variant")


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_counts_solved_rate_and_median_steps(summary, variant: str) -> None:
    n_solved, n_finished, n_diverged, n_failed, rate, median = EXPECTED[variant]
    row = summary.loc[variant]
    assert (row["n_solved"], row["n_finished"], row["n_diverged"], row["n_failed"]) == (
        n_solved, n_finished, n_diverged, n_failed)
    assert row["n_runs"] == len(RUNS[variant])
    assert row["solved_rate"] == pytest.approx(rate, abs=1e-12)
    if median is None:
        assert not math.isfinite(row["km_median_steps"])  # none solved: the median is never reached
    else:
        assert row["km_median_steps"] == pytest.approx(median)

