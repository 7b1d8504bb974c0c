"""Summary rows as text: numbers, intervals, p-values and the per-table markdown sections."""

from __future__ import annotations

import math

import pandas as pd

from gatebench.report.family import TESTS
from gatebench.report.ranking import table_order
from gatebench.report.statistics import ALPHA

P_ALPHA = ALPHA
# A variant whose mean norm_loss (loss / trivial baseline) stays at or above this and that solved
# no run learned nothing worth ranking (its loss is within 10% of the baseline's).
LEARNED_BELOW = 0.9
TEST_HEADERS = {"welch": "p Welch", "mwu": "p MWU", "solved": "p solved (Boschloo)",
                "logrank": "p steps (log-rank)"}  # fmt: skip
KIND_NOTE = {"bootstrap": "BCa", "range": "range", "one run": "1 run", "none": ""}


def num(value: object, digits: int = 3) -> str:
    """`0.00123` -> `0.00123`; NaN/None -> `-`; inf -> `not reached`."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    if math.isinf(number):
        return "not reached"
    if not math.isfinite(number):
        return "-"
    return f"{number:.{digits}g}"


def interval(centre: object, low: object, high: object, kind: str = "", digits: int = 3) -> str:
    """`0.62 [0.13, 0.9] range`."""
    if num(centre) == "-":
        return "-"
    text = f"{num(centre, digits)} [{num(low, digits)}, {num(high, digits)}]"
    note = KIND_NOTE.get(kind, kind)
    return f"{text} {note}" if note else text


def p_cell(row: pd.Series, test: str) -> str:
    """`0.012 (Holm 0.31)`, a star where the adjusted p < 0.05, or `n too small (min p = 0.10)`."""
    p = row.get(f"p_{test}")
    if num(p) == "-":
        return "-"
    min_p = row.get(f"min_p_{test}")
    try:
        if float(min_p) >= P_ALPHA:  # type: ignore[arg-type]
            return f"n too small (min p = {float(min_p):.2f})"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    adjusted = row.get(f"p_{test}_holm")
    star = " *" if num(adjusted) != "-" and float(adjusted) < P_ALPHA else ""  # type: ignore[arg-type]
    return f"{num(p, 2)} (Holm {num(adjusted, 2)}){star}"


def _seed_values(values: object) -> str:
    return str(values) if isinstance(values, str) else "-"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The human-readable columns of a summary (strings), one row per variant."""
    rows = []
    for _, row in summary.iterrows():
        attempted = int(row["n_runs"] - row["n_failed"])
        is_reference = row["variant"] == row["reference"]
        steps = interval(row["km_median_steps"], row["km_low"], row["km_high"], digits=6)
        if steps.startswith("not reached"):
            steps = "not reached"
        shown = {
            "task": row["task"],
            "T": int(row["length"]),
            "variant": row["variant"],
            "runs": int(row["n_runs"]),
            "solved/finished/diverged/failed": (
                f"{row['n_solved']}/{row['n_finished']}/{row['n_diverged']}/{row['n_failed']}"
            ),
            "metric": row["metric"],
            "mean [95%]": interval(row["mean"], row["ci_low"], row["ci_high"], row["ci_kind"]),
            "median": num(row["median"]),
            "per seed": _seed_values(row.get("seed_values")),
            "norm_loss mean [95%]": interval(
                row["norm_loss"],
                row["norm_loss_ci_low"],
                row["norm_loss_ci_high"],
                row["ci_kind"] if row["n_stat"] else "",
            ),  # fmt: skip
            "solved [Wilson 95%]": (
                f"{row['n_solved']}/{attempted} "
                f"[{num(row['solved_ci_low'], 2)}, {num(row['solved_ci_high'], 2)}]"
                if attempted
                else "-"
            ),
            "steps to solve, KM median [95%]": (
                f"{steps} ({int(row['n_censored'])} censored)" if steps != "-" else "-"
            ),
            "diff vs ref [95%]": "ref"
            if is_reference
            else interval(row["diff"], row["diff_low"], row["diff_high"], str(row["diff_kind"])),
            "P(better than ref)": "ref" if is_reference else num(row["p_superiority"], 2),
            "params": num(row["params"], 9),
        }
        for test in TESTS:
            shown[TEST_HEADERS[test]] = "ref" if is_reference else p_cell(row, test)
        rows.append(shown)
    return pd.DataFrame(rows)


def learned_nothing(table: pd.DataFrame) -> bool:
    """No variant of the table beat the trivial baseline: none solved a run, and the mean
    norm_loss of every variant with completed runs is known and at least LEARNED_BELOW (so a
    "best" would rank noise). Variants without a completed run (all failed) do not count."""
    ran = table[pd.to_numeric(table["mean"], errors="coerce").notna()]
    norm = pd.to_numeric(ran["norm_loss"], errors="coerce")
    solved = pd.to_numeric(table["n_solved"], errors="coerce").fillna(0)
    return bool(len(ran)) and bool(norm.notna().all()) and bool((norm >= LEARNED_BELOW).all()) \
        and bool((solved == 0).all())


def winner_line(table: pd.DataFrame) -> str:
    """One line: the best variant by solved rate then metric, and which differences to the
    reference survive the Holm correction of the report's family; no "best" when no variant
    beat the trivial baseline."""
    best = table_order(table).iloc[0]
    if learned_nothing(table):
        lowest = table.loc[pd.to_numeric(table["norm_loss"]).idxmin()]
        return (
            f"**No variant beat the trivial baseline**: none solved a run and every mean "
            f"norm_loss is {LEARNED_BELOW} or more (1.0 = the baseline; lowest "
            f"`{lowest['variant']}` at {num(lowest['norm_loss'])}): no winner, the ordering "
            "below is noise."
        )
    attempted = int(best["n_runs"] - best["n_failed"])
    family, size = str(table["family"].iloc[0]), int(table["family_size"].max())
    where = "study-wide" if family == "study" else "within-table"
    survivors = []
    for _, row in table.iterrows():
        for test in TESTS:
            adjusted = row.get(f"p_{test}_holm")
            if num(adjusted) != "-" and float(adjusted) < P_ALPHA:
                survivors.append(
                    f"{row['variant']} vs {row['reference']}, {TESTS[test]} "
                    f"(Holm p = {num(adjusted, 2)})"
                )
    line = (
        f"**Best: `{best['variant']}`** ({best['n_solved']}/{attempted} solved, mean "
        f"{best['metric']} {num(best['mean'])}). "
    )
    if survivors:
        return (
            line
            + f"Surviving the {where} Holm correction (m = {size}): "
            + "; ".join(survivors)
            + "."
        )
    return line + (
        f"No difference to the reference survives the {where} Holm correction (m = {size}): "
        "the ordering is descriptive."
    )


def markdown_tables(summary: pd.DataFrame) -> str:
    """Markdown: one section per (task, length): who won, the baseline line and the table."""
    parts = []
    for (task, length), table in summary.groupby(["task", "length"], sort=True):
        metric = table["metric"].iloc[0]
        baseline = table["baseline"].median()
        reference = table["reference"].iloc[0]
        direction = "lower" if table["metric_mode"].iloc[0] == "min" else "higher"
        shown = display_table(table).drop(columns=["task", "T", "metric"])
        if "selected" in table.columns:  # the setting chosen on validation (report.selection)
            shown.insert(1, "selected on val", table["selected"].fillna("-").to_numpy())
        shown = shown.rename(columns={"mean [95%]": f"{metric} mean [95%]"})
        parts.append(f"### {task}, T = {int(length)}\n")
        parts.append(winner_line(table) + "\n")
        chance = table["chance"].median()
        chance_text = f" Chance: {num(chance, 3)}." if math.isfinite(chance) else ""
        if not chance_text and str(metric).endswith("acc"):
            chance_text = " Chance: unknown (the records do not say the number of classes)."
        if reference in set(table["variant"]):
            tests = (
                f"Tests: two-sided, vs `{reference}`; Holm-adjusted p in brackets (* < {P_ALPHA})."
            )
        else:
            tests = f"No tests: the reference variant `{reference}` has no runs here."
        parts.append(
            f"Trivial baseline: loss {num(baseline, 4)} (norm_loss 1.0).{chance_text} Primary "
            f"metric: `{metric}` ({direction} is better). Validation every "
            f"{table['val_interval'].iloc[0]} steps. {tests}\n"
        )
        parts.append(shown.to_markdown(index=False) + "\n")
    return "\n".join(parts)
