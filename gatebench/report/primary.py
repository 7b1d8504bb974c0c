"""The primary family of a study: its pre-registered comparisons, each with an exact test.

A comparison is cell A against cell B on one (task, length) and one endpoint:
- `metric` / `norm_loss`: a permutation test on the difference of the means
  (`scipy.stats.permutation_test`, statistic |mean(A) - mean(B)|, so the two-sided p is the share
  of the equally likely splits of the pooled runs whose |difference| is at least the observed
  one). Every split is enumerated while there are at most `EXACT_SPLITS` of them (10 vs 10 runs:
  C(20, 10) = 184756), else `MONTE_CARLO` random ones with a fixed seed.
- `solved`: Boschloo's exact test on the solved counts (`statistics.solved_counts_p`).
- `steps`: the same permutation test on steps to solve with every unsolved run at the step
  budget (a restricted mean: censoring is administrative, at one budget, when no plateau rule
  cuts runs).
Holm's correction runs over this family only; every other comparison of the report is
exploratory and corrected within its own family. Welch's t is shown as a secondary column;
where a side's runs split into solved and unsolved (bimodal), a mean-based t says little and
the row says so. A comparison where one arm's runs were stopped early by the plateau rule while
the other's ran to `max_steps` is flagged as an unequal budget.

Reads the runs frame only (pandas, scipy): never torch, `variants` or `tasks`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from gatebench.report.records import COMPLETED_STATUSES
from gatebench.report.statistics import (
    ALPHA,
    BOOTSTRAP_SEED,
    finite,
    holm,
    solved_counts_min_p,
    solved_counts_p,
    welch_p,
)
from gatebench.report.survival import BUDGET_COLUMN

EXACT_SPLITS = 200_000
MONTE_CARLO = 99_999


def permutation_p(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """Two-sided permutation p of the difference of means, and `exact` or `Monte Carlo`.

    NaN when a side has no finite value."""
    from scipy import stats

    x, y = finite(a), finite(b)
    if x.size == 0 or y.size == 0:
        return math.nan, "none"
    splits = math.comb(x.size + y.size, x.size)

    def gap(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.abs(np.mean(u, axis=axis) - np.mean(v, axis=axis))

    exact = splits <= EXACT_SPLITS
    result = stats.permutation_test(
        (x, y), gap, permutation_type="independent", alternative="greater", vectorized=True,
        n_resamples=EXACT_SPLITS if exact else MONTE_CARLO,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )  # fmt: skip
    return float(result.pvalue), "exact" if exact else "Monte Carlo"


def permutation_min_p(n: int, m: int) -> float:
    """The smallest p the exact permutation test can give with n vs m runs: one split in
    C(n + m, n), two when n = m (the mirrored separation has the same |difference|)."""
    if n <= 0 or m <= 0:
        return math.nan
    return (2.0 if n == m else 1.0) / math.comb(n + m, n)


def bimodal(runs: pd.DataFrame) -> bool:
    """The runs split into solved and unsolved (both present among completed runs)."""
    done = runs[runs["status"].isin(COMPLETED_STATUSES)]
    solved = (done["status"] == "solved").sum()
    return bool(0 < solved < len(done))


def budget_text(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """`equal`, or why the arms had unequal budgets: one stopped by the plateau rule, the other
    run to `max_steps`."""
    def count(runs: pd.DataFrame, why: str) -> int:
        return int((runs.get("stopped_by") == why).sum()) if "stopped_by" in runs else 0

    pa, pb = count(a, "plateau"), count(b, "plateau")
    ma, mb = count(a, "max_steps"), count(b, "max_steps")
    if pa and pb and pa * len(b) == pb * len(a):
        return f"equal shares stopped by the plateau rule ({pa}/{len(a)} vs {pb}/{len(b)})"
    if (pa and mb) or (pb and ma):
        return (f"unequal: plateau stopped {pa}/{len(a)} vs {pb}/{len(b)} runs early while "
                f"{ma}/{len(a)} vs {mb}/{len(b)} ran to max_steps")  # fmt: skip
    return "equal"


def capped_steps(runs: pd.DataFrame) -> np.ndarray:
    """Steps to solve with every unsolved run (finished or diverged) at the step budget: the
    restricted mean of these is the mean time to solve within the budget (failed runs are not
    outcomes). Exact when every unsolved run was censored at the common budget, i.e. no plateau
    rule (the budget column says where a plateau rule cut runs)."""
    runs = runs[runs["status"] != "failed"].sort_values("seed")
    budget = pd.to_numeric(runs.get(BUDGET_COLUMN), errors="coerce").to_numpy(float)
    solved = pd.to_numeric(runs.get("steps_to_solve"), errors="coerce").to_numpy(float)
    return np.where(runs["status"].to_numpy() == "solved", solved, budget)


def _values(runs: pd.DataFrame, endpoint: str) -> tuple[np.ndarray, str]:
    """The compared values of one arm: test values when every completed run has one."""
    if endpoint == "steps":
        return capped_steps(runs), "val"
    done = runs[runs["status"].isin(COMPLETED_STATUSES)].sort_values("seed")
    column, fallback = (("test_norm_loss", "norm_loss") if endpoint == "norm_loss"
                        else ("test_metric", "final_metric"))  # fmt: skip
    test = pd.to_numeric(done.get(column), errors="coerce")
    if test is not None and len(done) and np.isfinite(test.to_numpy(float)).all():
        return test.to_numpy(float), "test"
    return pd.to_numeric(done[fallback], errors="coerce").to_numpy(float), "val"


def compare(a: pd.DataFrame, b: pd.DataFrame, endpoint: str) -> dict[str, object]:
    """One comparison's numbers: both arms' values, the difference, the permutation and
    Boschloo p-values, Welch's p, the pre-registered p (`p`), bimodality and the budget."""
    metric = str(a["metric"].dropna().iloc[0]) if a["metric"].notna().any() else "norm_loss"
    name = {"norm_loss": "norm_loss", "steps": "steps to solve (unsolved = budget)"}.get(
        endpoint, metric.split("/")[-1])
    x, split_a = _values(a, endpoint)
    y, split_b = _values(b, endpoint)
    split = split_a if split_a == split_b else "val"
    p_perm, kind = permutation_p(x, y)
    attempted = [int((r["status"] != "failed").sum()) for r in (a, b)]
    solved = [int((r["status"] == "solved").sum()) for r in (a, b)]
    p_solved = solved_counts_p(solved[0], attempted[0], solved[1], attempted[1])
    x, y = finite(x), finite(y)
    row = {
        "compared": ("solved runs" if endpoint == "solved" else name if endpoint == "steps"
                     else f"{split}/{name}"),
        "n": f"{x.size} vs {y.size}",
        "mean_a": float(x.mean()) if x.size else math.nan,
        "mean_b": float(y.mean()) if y.size else math.nan,
        "diff": float(x.mean() - y.mean()) if x.size and y.size else math.nan,
        "solved_a": f"{solved[0]}/{attempted[0]}", "solved_b": f"{solved[1]}/{attempted[1]}",
        "p_permutation": p_perm, "permutation": kind, "p_boschloo": p_solved,
        "p_welch": welch_p(x, y),
        "bimodal": bimodal(a) or bimodal(b),
        "budget": budget_text(a, b),
    }  # fmt: skip
    row["p"] = p_solved if endpoint == "solved" else p_perm
    row["min_p"] = (solved_counts_min_p(attempted[0], attempted[1]) if endpoint == "solved"
                    else permutation_min_p(x.size, y.size))  # fmt: skip
    row["test"] = "Boschloo (exact)" if endpoint == "solved" else f"permutation ({kind})"
    return row


def primary_family(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """`p_holm` over the family's pre-registered p-values (and `significant` at ALPHA)."""
    adjusted = holm([float(r["p"]) for r in rows])  # type: ignore[arg-type]
    for row, p in zip(rows, adjusted, strict=True):
        row["p_holm"] = float(p)
        row["significant"] = bool(math.isfinite(p) and p < ALPHA)
    return rows


def _p(value: object) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return f"{number:.3g}" if math.isfinite(number) else "-"


def primary_markdown(rows: list[dict[str, object]]) -> str:
    """The report's first section: every pre-registered comparison, its exact p, Holm over the
    family, Welch as a secondary column, and the flags."""
    lines = [
        "## Primary comparisons (pre-registered)\n",
        f"The {len(rows)} comparison(s) stated in the spec before the runs, on the evaluation "
        "seeds only. `metric`/`norm_loss` endpoints: a permutation test on the difference of "
        "means (two-sided: the share of equally likely splits of the pooled runs whose "
        "|difference| is at least the observed one; every split enumerated up to "
        f"{EXACT_SPLITS} splits); `steps`: the same test on steps to solve, each unsolved run "
        "counted at the step budget. `solved`: Boschloo's exact test on the solved counts. "
        f"Holm's correction over this family only (m = {len(rows)}); * where the Holm p < "
        f"{ALPHA}. Welch's t is secondary and never the basis of a claim when runs are bimodal.\n",
    ]
    shown = pd.DataFrame([{
        "comparison": r["comparison"], "endpoint": r["compared"], "n": r["n"],
        "mean A / B": f"{_p(r['mean_a'])} / {_p(r['mean_b'])}",
        "diff A - B": _p(r["diff"]),
        "solved A / B": f"{r['solved_a']} / {r['solved_b']}",
        "test": r["test"], "p": _p(r["p"]), "min p at this n": _p(r.get("min_p")),
        "p Holm (primary)": _p(r["p_holm"]) + (" *" if r["significant"] else ""),
        "p permutation": _p(r["p_permutation"]), "p Boschloo": _p(r["p_boschloo"]),
        "p Welch (secondary)": _p(r["p_welch"]) + (" (bimodal: not a basis)"
                                                  if r["bimodal"] else ""),
        "budget": r["budget"],
    } for r in rows])  # fmt: skip
    lines.append(shown.to_markdown(index=False) + "\n")
    blocked = [str(r["comparison"]) for r in rows
               if float(r.get("min_p", math.nan)) * len(rows) >= ALPHA]  # type: ignore[arg-type]
    if blocked:
        lines.append(
            "**Too few runs to establish these** whatever the outcome (the smallest p the test "
            f"can give at these sample sizes, times m = {len(rows)}, is >= {ALPHA}): "
            + "; ".join(blocked) + ". Add evaluation seeds.\n"
        )
    bimodal_rows = [str(r["comparison"]) for r in rows if r["bimodal"]]
    if bimodal_rows:
        lines.append(
            "Bimodal (a side's runs split into solved and unsolved): "
            + "; ".join(bimodal_rows)
            + ". The mean of such runs describes neither cluster; read the solved counts.\n"
        )
    unequal = [str(r["comparison"]) for r in rows if str(r["budget"]).startswith("unequal")]
    if unequal:
        lines.append("**Unequal budgets** (the plateau rule stopped one arm early): "
                     + "; ".join(unequal) + ".\n")  # fmt: skip
    return "\n".join(lines) + "\n"
