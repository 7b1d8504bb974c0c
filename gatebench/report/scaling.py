"""How learning time grows with the lag: steps to solve as censored data, a law per cell.

Per group (a cell's label on one task at one width) the steps to solve a lag T are modelled as
Weibull with scale lambda(T) = exp(a + b log T) and shape rho (an accelerated-failure-time
model: S(t | T) = exp(-(t / lambda(T))^rho)), so every quantile of the learning time, the median
included, grows as T^b. The exponent b and its Wald interval are lifelines' `WeibullAFTFitter`
(coefficient of `log_T` in `lambda_`). A run that did not solve is right-censored where
`gatebench.report.survival.solve_times` puts it (a finished run at its last step, a diverged run
at the step budget); a failed run is no outcome and is left out. Beside the law, Kaplan-Meier
medians per (cell, T) with their Brookmeyer-Crowley intervals (`survival.kaplan_meier`), and a
log-log figure of both.

    python -m gatebench.report.scaling results/lag_scaling   # scaling.md and scaling.png there

No torch, variants or tasks: records only (pandas, lifelines, matplotlib when plotting).
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gatebench.report.statistics import CONFIDENCE
from gatebench.report.survival import Times, kaplan_meier, solve_times

GROUP = ["variant", "task", "hidden_size"]  # one law per cell label, task and width
COLUMNS = [*GROUP, "length", "seed", "status", "duration", "event"]


@dataclass(frozen=True)
class Law:
    """A fitted law steps ~ T^exponent for one group: the exponent and its interval, the
    intercept a and shape rho (median steps = exp(a) T^b (ln 2)^(1/rho)), and what it rests on."""

    variant: str
    task: str
    hidden_size: int | None
    exponent: float
    low: float
    high: float
    intercept: float
    shape: float
    runs: int
    solved: int
    lengths: tuple[int, ...]
    note: str = ""

    def median_at(self, length: float) -> float:
        """The law's median steps to solve at lag `length`."""
        scale = math.exp(self.intercept + self.exponent * math.log(length))
        return scale * math.log(2.0) ** (1.0 / self.shape)


def censored_frame(runs: pd.DataFrame, seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per run that is an outcome: its group, lag, seed, `duration` (steps to solve, or
    the step at which it was censored) and `event` (1 solved, 0 censored). `seeds`: keep only
    these (a study's evaluation seeds); failed or unplaceable runs are left out."""
    frame = runs if seeds is None else runs[runs["seed"].isin(list(seeds))]
    rows = []
    for index in range(len(frame)):
        one = frame.iloc[[index]]
        times = solve_times(one)
        if times.n != 1:
            continue
        event = times.events.size == 1
        duration = float(times.events[0] if event else times.censored[0])
        row = one.iloc[0]
        hidden = row.get("hidden_size")
        rows.append({
            "variant": row["variant"], "task": row["task"],
            "hidden_size": None if pd.isna(hidden) else int(hidden),
            "length": int(row["length"]), "seed": row["seed"], "status": row["status"],
            "duration": duration, "event": int(event),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _groups(frame: pd.DataFrame):
    keyed = frame.assign(hidden_size=frame["hidden_size"].fillna(-1))
    for key, group in keyed.groupby(GROUP, sort=True):
        variant, task, hidden = key
        yield str(variant), str(task), (None if hidden == -1 else int(hidden)), group


def fit_law(group: pd.DataFrame, variant: str = "", task: str = "",
            hidden_size: int | None = None, confidence: float = CONFIDENCE) -> Law:
    """The Weibull AFT law of one group (columns `length`, `duration`, `event`). Not fitted
    (NaN, with a note) when fewer than 2 lags or fewer than 2 solved runs carry it."""
    lengths = tuple(sorted(int(n) for n in group["length"].unique()))
    solved = int(group["event"].sum())
    nan = Law(variant, task, hidden_size, math.nan, math.nan, math.nan, math.nan, math.nan,
              len(group), solved, lengths)  # fmt: skip
    with_events = group.loc[group["event"] == 1, "length"].nunique()
    if len(lengths) < 2 or solved < 2 or with_events < 1:
        reason = "fewer than 2 lags" if len(lengths) < 2 else "fewer than 2 solved runs"
        return Law(**{**nan.__dict__, "note": f"not fitted: {reason}"})
    from lifelines import WeibullAFTFitter

    data = pd.DataFrame({"duration": group["duration"].to_numpy(dtype=float),
                         "event": group["event"].to_numpy(dtype=int),
                         "log_T": np.log(group["length"].to_numpy(dtype=float))})  # fmt: skip
    fitter = WeibullAFTFitter(alpha=1.0 - confidence)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter.fit(data, duration_col="duration", event_col="event")
    except Exception as error:  # lifelines raises ConvergenceError and friends
        return Law(**{**nan.__dict__, "note": f"not fitted: {type(error).__name__}"})
    params = fitter.params_
    bounds = fitter.confidence_intervals_
    key = ("lambda_", "log_T")
    low, high = (float(v) for v in bounds.loc[key].to_numpy())
    note = "solved runs at one lag only: the exponent rests on censoring" \
        if with_events < 2 else ""
    return Law(variant, task, hidden_size, float(params.loc[key]), low, high,
               float(params.loc[("lambda_", "Intercept")]),
               float(math.exp(params.loc[("rho_", "Intercept")])), len(group), solved, lengths,
               note)  # fmt: skip


def fit_laws(frame: pd.DataFrame, confidence: float = CONFIDENCE) -> list[Law]:
    """One law per (cell, task, width) of a `censored_frame`."""
    return [fit_law(group, variant, task, hidden, confidence)
            for variant, task, hidden, group in _groups(frame)]  # fmt: skip


def km_table(frame: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per (cell, task, width, T): runs, solved, the Kaplan-Meier median steps to solve and its
    interval (inf: not reached), and the censoring step (the largest censored duration)."""
    rows = []
    for variant, task, hidden, group in _groups(frame):
        for length, at in group.groupby("length", sort=True):
            events = at.loc[at["event"] == 1, "duration"].to_numpy(dtype=float)
            censored = at.loc[at["event"] == 0, "duration"].to_numpy(dtype=float)
            km = kaplan_meier(Times(events, censored), confidence)
            rows.append({
                "variant": variant, "task": task, "hidden_size": hidden, "length": int(length),
                "runs": len(at), "solved": int(events.size), "median": km.median,
                "low": km.low, "high": km.high,
                "censored_at": float(censored.max()) if censored.size else math.nan,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "not reached" if value == math.inf else "-"
    return f"{value:.0f}"


def laws_markdown(laws: Sequence[Law]) -> str:
    """The exponent table: cell, task, width, exponent [interval], shape, solved/runs, lags."""
    lines = ["| cell | task | hidden | exponent b [95%] | shape rho | solved / runs | lags | "
             "note |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for law in laws:
        exponent = "-" if math.isnan(law.exponent) else \
            f"{law.exponent:.2f} [{law.low:.2f}, {law.high:.2f}]"
        shape = "-" if math.isnan(law.shape) else f"{law.shape:.2f}"
        lines.append(f"| {law.variant} | {law.task} | {law.hidden_size} | {exponent} | {shape} | "
                     f"{law.solved} / {law.runs} | {', '.join(map(str, law.lengths))} | "
                     f"{law.note} |")  # fmt: skip
    return "\n".join(lines)


def km_markdown(table: pd.DataFrame) -> str:
    lines = ["| cell | task | hidden | T | solved / runs | KM median steps [95%] |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in table.itertuples():
        lines.append(f"| {row.variant} | {row.task} | {row.hidden_size} | {row.length} | "
                     f"{row.solved} / {row.runs} | {_number(row.median)} "
                     f"[{_number(row.low)}, {_number(row.high)}] |")  # fmt: skip
    return "\n".join(lines)


def plot_scaling(frame: pd.DataFrame, laws: Sequence[Law], table: pd.DataFrame,
                 path: str | Path) -> list[Path]:  # fmt: skip
    """Steps to solve against T on log-log axes, one panel per (task, width), one colour per
    cell (the report's palette): KM medians with their intervals (an arrow where the upper end is
    not reached), the law's median line, and censored runs as open triangles at their censoring
    step. Saved as PNG and SVG next to `path`."""
    from matplotlib.figure import Figure

    from gatebench.report.palette import variant_colors

    panels = sorted({(t, h) for t, h in zip(frame["task"], frame["hidden_size"].fillna(-1),
                                             strict=True)})  # fmt: skip
    colors = variant_colors(sorted(frame["variant"].unique()))
    figure = Figure(figsize=(5.2 * max(1, len(panels)), 4.2), layout="constrained")
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (task, hidden) in zip(axes, panels, strict=False):
        hidden_value = None if hidden == -1 else int(hidden)
        for variant in sorted(frame["variant"].unique()):
            mine = frame[(frame["variant"] == variant) & (frame["task"] == task)
                         & (frame["hidden_size"].fillna(-1) == hidden)]  # fmt: skip
            if mine.empty:
                continue
            color = colors[variant]
            offset = 1.0 + 0.02 * (sorted(frame["variant"].unique()).index(variant) - 3)
            km = table[(table["variant"] == variant) & (table["task"] == task)
                       & (table["hidden_size"].fillna(-1) == hidden)]  # fmt: skip
            reached = km[np.isfinite(km["median"])]
            if not reached.empty:
                high = np.where(np.isfinite(reached["high"]), reached["high"], reached["median"])
                ax.errorbar(reached["length"] * offset, reached["median"],
                            yerr=[reached["median"] - reached["low"], high - reached["median"]],
                            fmt="o", color=color, capsize=3, label=variant)  # fmt: skip
                open_top = reached[~np.isfinite(reached["high"])]
                ax.scatter(open_top["length"] * offset, open_top["median"] * 1.6, marker="^",
                           color=color, s=18)  # fmt: skip
            censored = mine[mine["event"] == 0]
            if not censored.empty:
                ax.scatter(censored["length"] * offset, censored["duration"], marker="^",
                           facecolors="none", edgecolors=color, s=30, linewidths=0.8,
                           label=None if not reached.empty else f"{variant} (none solved)")
            law = next((w for w in laws if w.variant == variant and w.task == task
                        and w.hidden_size == hidden_value), None)  # fmt: skip
            if law is not None and math.isfinite(law.exponent):
                grid = np.geomspace(min(law.lengths), max(law.lengths), 50)
                ax.plot(grid, [law.median_at(n) for n in grid], color=color, linewidth=1.2,
                        label=f"{variant}: b = {law.exponent:.2f}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("lag T")
        ax.set_ylabel("steps to solve")
        width = "" if hidden_value is None else f", hidden {hidden_value}"
        ax.set_title(f"{task}{width}: KM medians, fit, censored (open triangles)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path = Path(path)
    written = []
    for suffix in (".png", ".svg"):
        out = path.with_suffix(suffix)
        figure.savefig(out, dpi=130)
        written.append(out)
    return written


def evaluation_seeds(study_dir: str | Path) -> list[int] | None:
    """The evaluation seeds stated in a study directory's `study.yaml` (None when absent)."""
    import yaml

    path = Path(study_dir) / "study.yaml"
    if not path.is_file():
        return None
    seeds = (yaml.safe_load(path.read_text()) or {}).get("evaluation_seeds")
    return [int(s) for s in seeds] if seeds else None


def write_scaling(study_dir: str | Path, plots: bool = True) -> Path:
    """scaling.md (the exponent table, the KM medians) and scaling.png in `study_dir`, from its
    records on the evaluation seeds only."""
    from gatebench.report.records import load_runs

    study_dir = Path(study_dir)
    seeds = evaluation_seeds(study_dir)
    frame = censored_frame(load_runs([study_dir]).runs, seeds)
    laws = fit_laws(frame)
    table = km_table(frame)
    shown = "all seeds" if seeds is None else f"evaluation seeds {seeds[0]}-{seeds[-1]}"
    text = [f"# Steps to solve against the lag ({shown})", "",
            f"{len(frame)} runs, {int(frame['event'].sum())} solved. Weibull AFT per cell: "
            "median steps = exp(a) T^b (ln 2)^(1/rho); b with its 95% Wald interval.", "",
            laws_markdown(laws), "", "## Kaplan-Meier medians", "", km_markdown(table), ""]
    if plots and not frame.empty:
        plot_scaling(frame, laws, table, study_dir / "scaling.png")
        text += ["![steps to solve against T](scaling.png)", ""]
    out = study_dir / "scaling.md"
    out.write_text("\n".join(text))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatebench.report.scaling",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("study_dir")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    print(write_scaling(args.study_dir, plots=not args.no_plots))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
