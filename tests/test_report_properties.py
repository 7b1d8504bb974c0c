"""Property-based (Hypothesis) checks of the report's statistics (issue 25): Holm-adjusted
p-values equal the step-down formula recomputed here, are monotone in the raw ones and never
below them; every interval lies inside its metric's range (and inside the data's); the report
of a set of records does not depend on the order the records are read in."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatebench.report import load_runs, markdown_tables, summarize
from gatebench.report.statistics import holm, metric_bounds, seed_interval, wilson_interval

LEAN = settings(max_examples=25, deadline=None, derandomize=True)

P_VALUES = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.just(math.nan), st.sampled_from([0.01, 0.05, 0.5])),
    max_size=12,
)


@LEAN
@given(p=P_VALUES)
def test_holm_is_monotone_at_least_the_raw_p_and_the_step_down_formula(p: list[float]) -> None:
    raw = np.asarray(p, dtype=float)
    adjusted = holm(raw)
    finite = np.isfinite(raw)
    assert np.array_equal(np.isnan(adjusted), ~finite)  # NaN passes through, uncounted
    ordered = np.sort(raw[finite])
    m = ordered.size
    for i in np.flatnonzero(finite):
        # Holm (1979): min(1, max over the j-th smallest p_(j) <= p_i of (m - j + 1) p_(j))
        expected = min(1.0, max((m - j) * ordered[j] for j in range(m) if ordered[j] <= raw[i]))
        assert adjusted[i] == expected
        assert raw[i] <= adjusted[i] <= 1.0
    for i in np.flatnonzero(finite):
        for j in np.flatnonzero(finite):
            if raw[i] <= raw[j]:
                assert adjusted[i] <= adjusted[j]


@LEAN
@given(
    metric=st.sampled_from(["test/acc", "val/recall_acc", "val/mse", "test/norm_loss"]),
    unit=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9),
    scale=st.sampled_from([1.0, 1e-3, 50.0]),
)
def test_every_seed_interval_lies_inside_the_metric_range(
    metric: str, unit: list[float], scale: float
) -> None:
    low_bound, high_bound = metric_bounds(metric)
    values = np.asarray(unit) * (1.0 if metric.endswith("acc") else scale)
    interval = seed_interval(values, (low_bound, high_bound))
    assert interval.kind in ("one run", "range", "bootstrap")
    assert low_bound <= interval.low <= interval.high <= high_bound
    slack = 1e-12 * max(1.0, float(values.max()))  # resampled means: inside [min, max]
    assert values.min() - slack <= interval.low and interval.high <= values.max() + slack


@LEAN
@given(attempted=st.integers(1, 60), share=st.floats(0.0, 1.0))
def test_every_wilson_interval_lies_inside_zero_one_and_holds_the_rate(
    attempted: int, share: float
) -> None:
    solved = round(share * attempted)
    low, high = wilson_interval(solved, attempted)
    assert 0.0 <= low <= solved / attempted <= high <= 1.0


VARIANTS = ("lstm", "gru", "rnn")


def _record(variant: str, seed: int, acc: float, status: str, solved_at: int | None) -> dict:
    """A copy run (T = 10) with final val/recall_acc `acc`."""
    return {
        "schema_version": 1, "run_name": f"{variant}-copy-T10-s{seed}", "variant": variant,
        "variant_options": {"hidden_size": 16}, "task": {"name": "copy", "params": {"length": 10}},
        "length": 10, "seed": seed, "status": status, "message": None, "steps": 200,
        "steps_to_solve": solved_at, "metric": "val/recall_acc", "metric_mode": "max",
        "baseline": 2.0, "final": {} if status == "diverged" else {"val/recall_acc": acc,
                                                                   "val/norm_loss": 1 - acc},
        "best": {}, "test": {}, "norm_loss": None if status == "diverged" else 1 - acc,
        "params": 1000, "config": {"seed": seed, "variant": {"name": variant},
                                   "task": {"name": "copy", "length": 10}},
    }  # fmt: skip


RECORDS = st.lists(
    st.tuples(st.sampled_from(VARIANTS), st.floats(0.0, 1.0),
              st.sampled_from(["finished", "finished", "solved", "diverged"])),
    min_size=2, max_size=14,
)  # fmt: skip


def _summary(root: Path, records: list[dict]) -> tuple[pd.DataFrame, str]:
    root.mkdir(parents=True)
    for i, record in enumerate(records):
        (root / f"{i:02d}").mkdir()
        (root / f"{i:02d}" / "results.json").write_text(json.dumps(record))
    summary = summarize(load_runs([root]).runs)
    return summary, markdown_tables(summary)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=RECORDS, order=st.randoms(use_true_random=False))
def test_the_report_does_not_depend_on_the_order_of_the_records(
    drawn: list[tuple[str, float, str]], order, tmp_path_factory
) -> None:
    """Seeds are numbered per variant; records are written in sorted order and in a shuffled
    one: the same summary table and markdown, and every interval inside [0, 1]."""
    seeds: dict[str, int] = {}
    records = []
    for variant, acc, status in drawn:
        seeds[variant] = seeds.get(variant, -1) + 1
        solved_at = 100 if status == "solved" else None
        records.append(_record(variant, seeds[variant], acc, status, solved_at))
    records.sort(key=lambda r: (r["variant"], r["seed"]))
    shuffled = list(records)
    order.shuffle(shuffled)
    base = tmp_path_factory.mktemp("order")
    summary, text = _summary(base / "sorted", records)
    again, again_text = _summary(base / "shuffled", shuffled)
    pd.testing.assert_frame_equal(summary, again)
    assert text == again_text
    for low, high in (("ci_low", "ci_high"), ("solved_ci_low", "solved_ci_high")):
        values = summary[[low, high]].to_numpy(dtype=float)
        values = values[np.isfinite(values).all(axis=1)]
        assert ((0.0 <= values[:, 0]) & (values[:, 0] <= values[:, 1]) & (values[:, 1] <= 1)).all()
