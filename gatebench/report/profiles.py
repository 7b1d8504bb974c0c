"""Across tasks: probability of improvement between cells and performance profiles, as rliable
(Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice") computes them, here
over each run's held-out `norm_loss` (lower is better; 1.0 = the trivial baseline).

- Probability of improvement P(X < Y): for each (task, length) both cells ran, the probability
  that a run of X has a lower norm_loss than a run of Y (ties half; Mann-Whitney U / nm),
  averaged over those strata; 95% interval by a stratified bootstrap (`scipy.stats.bootstrap`
  resamples each cell's runs in each stratum on its own; percentile, fixed seed).
- Performance profile: per cell, the share of its runs (every stratum pooled) with
  norm_loss <= tau, against tau.
Reads the runs frame only.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gatebench.report.statistics import BOOTSTRAP_SEED, CONFIDENCE

RESAMPLES = 2000
COLUMNS = ["x", "y", "strata", "p_improvement", "low", "high"]


def norm_losses(runs: pd.DataFrame) -> dict[tuple[str, int, str], np.ndarray]:
    """(task, length, variant) -> the completed runs' norm_loss (test where present)."""
    done = runs[runs["status"].isin(("solved", "finished"))]
    values = pd.to_numeric(done.get("test_norm_loss"), errors="coerce")
    values = values.fillna(pd.to_numeric(done["norm_loss"], errors="coerce"))
    done = done.assign(_value=values)
    out = {}
    for (task, length, variant), group in done.groupby(["task", "length", "variant"]):
        data = group["_value"].to_numpy(float)
        data = data[np.isfinite(data)]
        if data.size:
            out[(str(task), int(length), str(variant))] = data
    return out


def _improvement(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    scores = []
    for x, y in pairs:
        diff = y[..., None, :] - x[..., :, None]
        scores.append((diff > 0).mean(axis=(-1, -2)) + 0.5 * (diff == 0).mean(axis=(-1, -2)))
    return np.mean(scores, axis=0)


def probability_of_improvement(x: list[np.ndarray], y: list[np.ndarray]
                               ) -> tuple[float, float, float]:  # fmt: skip
    """P(X improves on Y) averaged over strata (x[i], y[i] are one stratum's runs) and its
    stratified bootstrap 95% interval (NaN where a stratum has a single run on a side)."""
    from scipy import stats

    centre = float(_improvement(list(zip(x, y, strict=True))))
    if any(s.size < 2 for s in (*x, *y)):
        return centre, math.nan, math.nan
    samples = [s for pair in zip(x, y, strict=True) for s in pair]

    def statistic(*parts: np.ndarray, axis: int = -1) -> np.ndarray:
        parts = [np.moveaxis(p, axis, -1) for p in parts]
        return _improvement([(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            tuple(samples), statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
            method="percentile", vectorized=True, rng=np.random.default_rng(BOOTSTRAP_SEED),
        )  # fmt: skip
    low, high = result.confidence_interval
    return centre, float(low), float(high)


def improvement_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per ordered pair of cells that share a (task, length)."""
    values = norm_losses(runs)
    cells = sorted({k[2] for k in values})
    rows = []
    for a, b in itertools.permutations(cells, 2):
        strata = sorted({k[:2] for k in values if k[2] == a} & {k[:2] for k in values
                                                               if k[2] == b})  # fmt: skip
        if not strata:
            continue
        x = [values[(*s, a)] for s in strata]
        y = [values[(*s, b)] for s in strata]
        p, low, high = probability_of_improvement(x, y)
        rows.append({"x": a, "y": b, "strata": len(strata), "p_improvement": p,
                     "low": low, "high": high})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def improvement_markdown(table: pd.DataFrame, files: list[Path]) -> str:
    if table.empty:
        return ""
    shown = pd.DataFrame({
        "X": table["x"], "Y": table["y"], "tables shared": table["strata"],
        "P(X improves on Y) [95%]": [
            f"{p:.2f} [{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else f"{p:.2f} [-]"
            for p, lo, hi in zip(table["p_improvement"], table["low"], table["high"], strict=True)
        ],
    })  # fmt: skip
    lines = [
        "## Across tasks: probability of improvement and performance profiles\n",
        "Beside the IQM ranking: P(X improves on Y), the probability that a run of X reaches a "
        "lower held-out norm_loss than a run of Y (ties half), averaged over the (task, length) "
        "tables both ran, with a stratified bootstrap 95% interval (Agarwal et al. 2021, "
        "rliable). An interval that contains 0.5 does not establish an order. The performance "
        "profile plots, per cell, the share of its runs with norm_loss <= tau. Evaluation seeds "
        "only; exploratory.\n",
        shown.to_markdown(index=False) + "\n",
    ]
    lines += [f"![{p.stem}]({p.name})\n" for p in files if p.suffix == ".png"]
    return "\n".join(lines) + "\n"


def profile_plot(runs: pd.DataFrame, out: Path) -> list[Path]:
    """performance_profile.png/svg: share of each cell's runs with norm_loss <= tau."""
    values = norm_losses(runs)
    if not values:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taus = np.linspace(0.0, 1.25, 251)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for cell in sorted({k[2] for k in values}):
        pooled = np.concatenate([v for k, v in values.items() if k[2] == cell])
        share = (pooled[None, :] <= taus[:, None]).mean(axis=1)
        ax.step(taus, share, where="post", label=f"{cell} ({pooled.size} runs)")
    ax.set_xlabel("tau (held-out norm_loss; 1.0 = trivial baseline)")
    ax.set_ylabel("share of runs with norm_loss <= tau")
    ax.set_title("Performance profile (evaluation seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files = []
    for suffix in (".png", ".svg"):
        path = out / f"performance_profile{suffix}"
        fig.savefig(path, dpi=110)
        files.append(path)
    plt.close(fig)
    return files
