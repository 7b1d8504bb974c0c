"""How learning time grows with the lag: steps to solve as censored data, a law per cell.

Per group (a cell's label on one task at one width) the steps to solve a lag T are modelled as
Weibull with scale lambda(T) = exp(a + b log T) and shape rho (an accelerated-failure-time
model: S(t | T) = exp(-(t / lambda(T))^rho)), so every quantile of the learning time, the median
included, grows as T^b. The exponent b and its Wald interval are lifelines' `WeibullAFTFitter`
(coefficient of `log_T` in `lambda_`), fitted with interval censoring: a run that solved at
validation step t solved somewhere in (t - v, t] for the validation interval v
(`config.trainer.val_check_interval`; exact when unknown), which matters when a cell solves at
the first validations at every lag; a run that did not solve is right-censored where
`gatebench.report.survival.solve_times` puts it (a finished run at its last step, a diverged run
at the step budget); a failed run is no outcome and is left out. Beside the law, Kaplan-Meier
medians per (cell, T) with their Brookmeyer-Crowley intervals (`survival.kaplan_meier`), and a
log-log figure of both.

    python -m gatebench.report.scaling results/lag_scaling --hidden 32 \
        --primary gru:lstm_fb1 lstm_fb1:lstm lstm_chrono:lstm cifg:lstm_fb1  # scaling.md, .png

No torch, variants or tasks: records only (pandas, lifelines, matplotlib when plotting).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gatebench.report.statistics import CONFIDENCE
from gatebench.report.survival import INTERVAL_COLUMN, Times, kaplan_meier, solve_times

GROUP = ["variant", "task", "hidden_size"]  # one law per cell label, task and width
COLUMNS = [*GROUP, "length", "seed", "status", "duration", "event", "lower", "upper"]


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
    se: float = math.nan  # the exponent's standard error (Wald)

    def median_at(self, length: float) -> float:
        """The law's median steps to solve at lag `length`."""
        scale = math.exp(self.intercept + self.exponent * math.log(length))
        return scale * math.log(2.0) ** (1.0 / self.shape)


def censored_frame(runs: pd.DataFrame, seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per run that is an outcome: its group, lag, seed, `duration` (steps to solve, or
    the step at which it was censored), `event` (1 solved, 0 censored) and the interval the
    solve lies in, (`lower`, `upper`] (solved: (t - validation interval, t]; censored:
    (t, inf)). `seeds`: keep only these (a study's evaluation seeds); failed or unplaceable
    runs are left out."""
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
        interval = pd.to_numeric(pd.Series([row.get(INTERVAL_COLUMN)]), errors="coerce").iloc[0]
        step = float(interval) if event and pd.notna(interval) and interval > 0 else 0.0
        rows.append({
            "variant": row["variant"], "task": row["task"],
            "hidden_size": None if pd.isna(hidden) else int(hidden),
            "length": int(row["length"]), "seed": row["seed"], "status": row["status"],
            "duration": duration, "event": int(event),
            "lower": max(duration - step, 0.0) if event else duration,
            "upper": duration if event else math.inf,
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

    lower = group["lower"] if "lower" in group else group["duration"]
    upper = group["upper"] if "upper" in group else \
        group["duration"].where(group["event"] == 1, math.inf)
    data = pd.DataFrame({"lower": lower.to_numpy(dtype=float),
                         "upper": upper.to_numpy(dtype=float),
                         "log_T": np.log(group["length"].to_numpy(dtype=float))})  # fmt: skip
    fitter = WeibullAFTFitter(alpha=1.0 - confidence)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter.fit_interval_censoring(data, lower_bound_col="lower",
                                          upper_bound_col="upper")  # fmt: skip
    except Exception as error:  # lifelines raises ConvergenceError and friends
        return Law(**{**nan.__dict__, "note": f"not fitted: {type(error).__name__}"})
    params = fitter.params_
    bounds = fitter.confidence_intervals_
    key = ("lambda_", "log_T")
    low, high = (float(v) for v in bounds.loc[key].to_numpy())
    note = "solved runs at one lag only: the exponent rests on censoring" \
        if with_events < 2 else ""
    if not (math.isfinite(low) and math.isfinite(high)):
        note = (note + "; " if note else "") + "no finite interval (a flat likelihood: e.g. " \
            "every run solved within the same first validations)"
    return Law(variant, task, hidden_size, float(params.loc[key]), low, high,
               float(params.loc[("lambda_", "Intercept")]),
               float(math.exp(params.loc[("rho_", "Intercept")])), len(group), solved, lengths,
               note, float(fitter.standard_errors_.loc[key]))  # fmt: skip


def fit_laws(frame: pd.DataFrame, confidence: float = CONFIDENCE) -> list[Law]:
    """One law per (cell, task, width) of a `censored_frame`."""
    return [fit_law(group, variant, task, hidden, confidence)
            for variant, task, hidden, group in _groups(frame)]  # fmt: skip


@dataclass(frozen=True)
class Contrast:
    """b(cell) - b(against) on one task and width: the two exponents, their difference, its
    Wald interval and two-sided z-test p (independent fits: se = sqrt(se1^2 + se2^2)), and
    Holm's p over the family it was computed in."""

    cell: str
    against: str
    task: str
    hidden_size: int | None
    difference: float
    low: float
    high: float
    p: float
    holm_p: float
    exponent_cell: float = math.nan
    exponent_against: float = math.nan


def compare_exponents(laws: Sequence[Law], pairs: Sequence[tuple[str, str]], task: str,
                      hidden_size: int | None = None,
                      confidence: float = CONFIDENCE) -> list[Contrast]:  # fmt: skip
    """The family of exponent differences `pairs` ((cell, against), e.g. the spec's
    pre-registered P1-P4), each a Wald z-test, Holm over this family only. A pair whose law
    was not fitted gets NaN and is not counted in Holm's m."""
    from scipy import stats

    from gatebench.report.statistics import holm

    by = {(w.variant, w.task, w.hidden_size): w for w in laws}
    z = stats.norm.ppf(0.5 + confidence / 2)
    rows = []
    for cell, against in pairs:
        one, two = by.get((cell, task, hidden_size)), by.get((against, task, hidden_size))
        if one is None or two is None or not (math.isfinite(one.se) and math.isfinite(two.se)):
            rows.append((cell, against, math.nan, math.nan, math.nan, math.nan,
                         one.exponent if one else math.nan, two.exponent if two else math.nan))
            continue
        difference = one.exponent - two.exponent
        se = math.hypot(one.se, two.se)
        p = float(2 * stats.norm.sf(abs(difference) / se)) if se > 0 else math.nan
        rows.append((cell, against, difference, difference - z * se, difference + z * se, p,
                     one.exponent, two.exponent))
    adjusted = holm([r[5] for r in rows])
    return [Contrast(c, a, task, hidden_size, d, lo, hi, p, float(h), b1, b2)
            for (c, a, d, lo, hi, p, b1, b2), h in zip(rows, adjusted, strict=True)]  # fmt: skip


def primary_family(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], task: str,
                   hidden_size: int | None = None,
                   lags: Sequence[int] | None = None) -> list[Contrast]:  # fmt: skip
    """`compare_exponents` on laws fitted to a `censored_frame`, on the lags `lags` only when
    given (so that no difference compares exponents fitted over two ranges of T); a lag the
    frame does not hold is refused in one line."""
    if lags:
        held = sorted({int(n) for n in frame["length"]})
        missing = sorted({int(n) for n in lags} - set(held))
        if missing:
            raise ValueError(f"--lags: {missing} not among the study's lags {held}")
        frame = frame[frame["length"].isin([int(n) for n in lags])]
    return compare_exponents(fit_laws(frame), pairs, task, hidden_size)


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
    not reached), the law's median line (only for a law with a finite interval that rests on
    solves at 2+ lags), and censored runs as open triangles at their censoring step. Saved as
    PNG and SVG next to `path`."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

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
                x = reached["length"].to_numpy(dtype=float) * offset
                mid = reached["median"].to_numpy(dtype=float)
                low = reached["low"].to_numpy(dtype=float)
                top = reached["high"].to_numpy(dtype=float)
                high = np.where(np.isfinite(top), top, mid)
                ax.errorbar(x, mid, yerr=np.vstack([mid - low, high - mid]), fmt="o",
                            color=color, capsize=3, label=variant)  # fmt: skip
                # an upper end not reached: an arrow head above the median
                ax.scatter(x[~np.isfinite(top)], mid[~np.isfinite(top)] * 1.6, marker="^",
                           color=color, s=18)  # fmt: skip
            censored = mine[mine["event"] == 0]
            if not censored.empty:
                ax.scatter(censored["length"].to_numpy(dtype=float) * offset,
                           censored["duration"].to_numpy(dtype=float), marker="^",
                           facecolors="none", edgecolors=color, s=30, linewidths=0.8,
                           label=None if not reached.empty else f"{variant} (median not reached)")
            law = next((w for w in laws if w.variant == variant and w.task == task
                        and w.hidden_size == hidden_value), None)  # fmt: skip
            # a law is drawn only where it rests on solves at 2+ lags and has a finite interval
            if law is not None and not law.note and np.isfinite([law.exponent, law.low,
                                                                  law.high]).all():  # fmt: skip
                grid = np.geomspace(min(law.lengths), max(law.lengths), 50)
                ax.plot(grid, [law.median_at(n) for n in grid], color=color, linewidth=1.2,
                        label=f"{variant}: b = {law.exponent:.2f}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        lags = sorted(frame.loc[frame["task"] == task, "length"].unique())
        ax.set_xticks(lags, [str(n) for n in lags])
        ax.xaxis.set_minor_locator(NullLocator())
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


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2g}"


def _b(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def contrasts_markdown(contrasts: Sequence[Contrast]) -> str:
    lines = ["| b(cell) - b(against) | task | hidden | b(cell) | b(against) | difference [95%] "
             "| p (Wald z) | Holm p |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in contrasts:
        shown = "not fitted" if math.isnan(c.difference) else \
            f"{c.difference:.2f} [{c.low:.2f}, {c.high:.2f}]"
        lines.append(f"| {c.cell} - {c.against} | {c.task} | {c.hidden_size} | "
                     f"{_b(c.exponent_cell)} | {_b(c.exponent_against)} | {shown} | "
                     f"{_p(c.p)} | {_p(c.holm_p)} |")  # fmt: skip
    return "\n".join(lines)


def write_scaling(study_dir: str | Path, plots: bool = True,
                  primary: Sequence[tuple[str, str]] = (), task: str = "adding",
                  hidden_size: int | None = None,
                  out_dir: str | Path | None = None,
                  primary_lags: Sequence[int] | None = None) -> Path:  # fmt: skip
    """scaling.md (the primary family of exponent differences when `primary` names it, the
    exponent table, the KM medians) and scaling.png in `study_dir`, from its records on the
    evaluation seeds only; written to `out_dir` (default: the study directory). `primary_lags`:
    fit the primary family's laws on these lags only (e.g. the lags both cells of every pair
    ran), so that no difference of exponents compares two ranges of T."""
    from gatebench.report.records import load_runs

    study_dir = Path(study_dir)
    out_dir = Path(out_dir) if out_dir is not None else study_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = evaluation_seeds(study_dir)
    frame = censored_frame(load_runs([study_dir]).runs, seeds)
    laws = fit_laws(frame)
    table = km_table(frame)
    shown = "all seeds" if seeds is None else f"evaluation seeds {seeds[0]}-{seeds[-1]}"
    text = [f"# Steps to solve against the lag ({shown})", "",
            f"{len(frame)} runs, {int(frame['event'].sum())} solved. Weibull AFT per cell: "
            "median steps = exp(a) T^b (ln 2)^(1/rho); b with its 95% Wald interval.", ""]
    if primary:
        family = primary_family(frame, primary, task, hidden_size, primary_lags)
        where = [f"Each law fitted on lags {', '.join(map(str, sorted(set(primary_lags))))} "
                 "only.", ""] if primary_lags else []  # fmt: skip
        text += ["## Primary family (pre-registered): differences of exponents, Holm over "
                 f"these {len(primary)}", "", *where, contrasts_markdown(family), ""]  # fmt: skip
    text += ["## Exponents (exploratory beyond the primary family)", "", laws_markdown(laws), "",
             "## Kaplan-Meier medians", "", km_markdown(table), ""]  # fmt: skip
    if plots and not frame.empty:
        plot_scaling(frame, laws, table, out_dir / "scaling.png")
        text += ["![steps to solve against T](scaling.png)", ""]
    out = out_dir / "scaling.md"
    out.write_text("\n".join(text))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatebench.report.scaling",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("study_dir")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--primary", nargs="*", default=[], metavar="CELL:AGAINST",
                        help="the pre-registered exponent differences, e.g. gru:lstm_fb1")
    parser.add_argument("--task", default="adding")
    parser.add_argument("--hidden", type=int, default=None, help="the width of the family")
    parser.add_argument("--out", default=None, help="write here (default: the study dir)")
    parser.add_argument("--lags", nargs="*", type=int, default=None, metavar="T",
                        help="fit the primary family's laws on these lags only")
    args = parser.parse_args(argv)
    pairs = []
    for item in args.primary:
        if item.count(":") != 1:
            parser.error(f"--primary: {item!r}; expected CELL:AGAINST")
        pairs.append(tuple(item.split(":")))
    try:
        print(write_scaling(args.study_dir, plots=not args.no_plots, primary=pairs,
                            task=args.task, hidden_size=args.hidden, out_dir=args.out,
                            primary_lags=args.lags))  # fmt: skip
    except ValueError as error:
        print(f"gatebench.report.scaling: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
