"""The multiple-comparison family: which p-values are Holm-adjusted together, and which tests
cannot reach significance at their sample size.

Default (`study`): one Holm (1979) family over every testable comparison in the report, since
a reader draws conclusions from all tables at once. `table`: Holm within each (task, length)
table and test, as reports before v2 did. A test whose smallest achievable p (computed exactly
for its sample sizes) is >= alpha can reject nothing under any correction; it is shown as
`n too small` and left out of the family (Tarone 1990): that choice depends on the sample sizes
only, never on the data, so the family-wise error rate stays controlled.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gatebench.report.statistics import (
    ALPHA,
    holm,
    logrank_min_p,
    mann_whitney_min_p,
    seeds_needed,
    solved_counts_min_p,
)

# test key -> (what it compares, its name in the report)
TESTS = {
    "welch": "Welch's t-test on the metric",
    "mwu": "Mann-Whitney U (exact) on the metric",
    "solved": "Boschloo's exact test on the solved counts",
    "logrank": "log-rank test on steps to solve",
}
FAMILIES = ("study", "table")
MIN_P = {"mwu": mann_whitney_min_p, "solved": solved_counts_min_p, "logrank": logrank_min_p}


def check_family(family: str) -> str:
    """The family name, or a one-line ValueError naming what is accepted."""
    if family not in FAMILIES:
        raise ValueError(f"--family {family!r}: expected one of {', '.join(FAMILIES)}")
    return family


def testable(summary: pd.DataFrame, test: str, alpha: float = ALPHA) -> pd.Series:
    """Rows where `test` has a p-value and could reach p < alpha at its sample size."""
    p = pd.to_numeric(summary[f"p_{test}"], errors="coerce")
    min_p = pd.to_numeric(summary[f"min_p_{test}"], errors="coerce")
    return p.notna() & ~(min_p >= alpha)


def apply_family(summary: pd.DataFrame, family: str = "study") -> pd.DataFrame:
    """Fill `p_<test>_holm`, `family` and `family_size` (the m of the row's family; for
    `table`, the largest m among the row's tests)."""
    check_family(family)
    out = summary.copy()
    for test in TESTS:
        out[f"p_{test}_holm"] = math.nan
    out["family"] = family
    out["family_size"] = 0
    if family == "study":
        cells = [(test, np.flatnonzero(testable(out, test).to_numpy())) for test in TESTS]
        pvalues = np.concatenate([out[f"p_{t}"].to_numpy(float)[rows] for t, rows in cells])
        adjusted = holm(pvalues)
        start = 0
        for test, rows in cells:
            column = out.columns.get_loc(f"p_{test}_holm")
            out.iloc[rows, column] = adjusted[start : start + rows.size]
            start += rows.size
        out["family_size"] = int(pvalues.size)
        return out
    for _, table in out.groupby(["task", "length"], sort=False):
        sizes = pd.Series(0, index=table.index)
        for test in TESTS:
            rows = table.index[testable(table, test)]
            out.loc[rows, f"p_{test}_holm"] = holm(out.loc[rows, f"p_{test}"].to_numpy(float))
            sizes[:] = np.maximum(sizes.to_numpy(), len(rows))
        out.loc[table.index, "family_size"] = sizes
    return out


def family_size(summary: pd.DataFrame) -> int:
    """The number of p-values in the study-wide family (every testable comparison)."""
    return int(sum(testable(summary, test).sum() for test in TESTS))


def too_small(summary: pd.DataFrame, test: str, alpha: float = ALPHA) -> pd.Series:
    """Rows where `test` was run but could not reach p < alpha at any outcome."""
    p = pd.to_numeric(summary[f"p_{test}"], errors="coerce")
    min_p = pd.to_numeric(summary[f"min_p_{test}"], errors="coerce")
    return p.notna() & (min_p >= alpha)


def seeds_advice(test: str, m: int, alpha: float = ALPHA) -> str:
    """How many seeds per variant `test` needs to reach p < alpha, and to survive Holm over a
    family of m (its smallest p must beat alpha / m)."""
    if test not in MIN_P:
        return ""
    plain = seeds_needed(MIN_P[test], alpha)
    family = seeds_needed(MIN_P[test], alpha / max(m, 1))
    more = "more than 50" if family is None else str(family)
    return (
        f"{TESTS[test]}: needs >= {plain} seeds per variant to reach p < {alpha:g} at all, "
        f">= {more} for its best outcome to survive Holm over {max(m, 1)} comparisons"
    )
