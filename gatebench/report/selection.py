"""Hyperparameter selection on validation with an equal budget per variant (issue 14.1).

A study sweeps settings (any config values: `optimizer.lr`, `model.param_budget`, ...) x seeds.
`swept_keys` finds the config values that differ between runs of one (task, length, variant);
runs that differ in one are never pooled into one table row: with `mode="none"` each setting is
its own row (the variant is labelled `lstm [optimizer.lr=0.001]`), with `mode="val"` (default)
the report keeps, per (task, length, variant), the setting of the selection axes whose *median
final validation metric* over its seeds is best, and reports that setting's runs (their held-out
test values) -- never selecting on test. A diverged run counts as the worst value in that median
(a setting that diverges on most seeds is not chosen); failed runs (exceptions, not outcomes) are
left out. Ties go to the first setting in sorted order. Swept keys that are not selection axes
still split rows. The budget -- how many settings each variant was given -- must be equal
across the variants of a table, else `Selection.notes` warns.

Reads the runs frame only (pandas): never torch, `variants` or `tasks`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

TABLE_KEYS = ["task", "length", "variant"]
# Config values that differ between runs without being a hyperparameter of the comparison.
# Where a run ran, what it imported, how it logged or showed progress, what it measured on the
# side: never a selection axis, a split of rows, or a sensitivity plot.
IGNORED = {
    "config.seed", "config.run_dir", "config.run_name", "config.threads", "config.ckpt_path",
    "config.variant_label", "config.test", "config.imports", "config.progress_every_s",
    "config.trainer.enable_progress_bar", "config.trainer.log_every_n_steps",
}  # fmt: skip
IGNORED_PREFIXES = ("config.logger.", "config.hydra.", "config.imports.", "config.diagnostics.")
# Keys that follow another swept key (interpolated from it): dropped when they co-vary.
DERIVED = ("config.scheduler.total_steps",)
MODES = ("val", "none")


@dataclass
class Selection:
    """What the tables use after selection.

    `runs`: the runs the summary is built from (the selected setting's runs, or every run with
    setting-labelled variants). `axes`: the selection axes; `split`: other swept keys (own rows).
    `chosen`: one row per (task, length, variant): `selected` (the setting), `val_median`,
    `n_settings` (the budget), `n_seeds` (runs of the chosen setting). `notes`: warnings.
    """

    runs: pd.DataFrame
    mode: str
    axes: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    chosen: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def short(key: str) -> str:
    """`config.optimizer.lr` -> `optimizer.lr`."""
    return key.removeprefix("config.")


def _value_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _as_text(series: pd.Series) -> pd.Series:
    return series.map(_value_text)


def _config_columns(runs: pd.DataFrame) -> list[str]:
    return sorted(
        c
        for c in runs.columns
        if c.startswith("config.") and c not in IGNORED and not c.startswith(IGNORED_PREFIXES)
    )


def swept_keys(runs: pd.DataFrame) -> list[str]:
    """Config columns whose value differs between runs of some (task, length, variant).

    Keys that split the runs exactly like another swept key (e.g. `scheduler.total_steps`, an
    interpolation of `trainer.max_steps`) are kept once, preferring the one not in `DERIVED`.
    """
    if runs.empty:
        return []
    columns = _config_columns(runs)
    if not columns:
        return []
    texts = runs[columns].apply(_as_text)
    keyed = pd.concat([runs[TABLE_KEYS].astype(str), texts], axis=1)
    counts = keyed.groupby(TABLE_KEYS, dropna=False)[columns].nunique(dropna=False)
    swept = [c for c in columns if (counts[c] > 1).any()]
    kept: dict[tuple, str] = {}
    for key in sorted(swept, key=lambda k: (k in DERIVED, k)):
        partition = tuple(pd.factorize(texts[key])[0])
        kept.setdefault(partition, key)
    return sorted(kept.values())


def setting_text(row: pd.Series | dict, keys: list[str]) -> str:
    """`optimizer.lr=0.001, model.param_budget=1000` for `keys` of one run."""
    return ", ".join(f"{short(k)}={_value_text(row[k])}" for k in keys)


def _resolve_axes(runs: pd.DataFrame, swept: list[str], over: list[str] | None) -> list[str]:
    if not over:
        return swept
    axes = []
    for name in over:
        key = name if name.startswith("config.") else f"config.{name}"
        if key not in runs.columns:
            known = ", ".join(short(k) for k in swept) or "none"
            raise ValueError(
                f"--select-over {short(key)}: no such config key in the runs (swept: {known})"
            )
        if key not in swept:
            values = sorted(set(_as_text(runs[key])))
            raise ValueError(
                f"--select-over {short(key)}: does not vary across the runs "
                f"(one value per variant: {', '.join(values[:3])}); nothing to select"
            )
        axes.append(key)
    return axes


def _labelled(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Runs whose `variant` also names their values of `keys` (so settings are own rows)."""
    if not keys:
        return runs
    labels = [
        f"{variant} [{setting_text(row, keys)}]" for variant, (_, row) in
        zip(runs["variant"], runs[keys].iterrows(), strict=True)
    ]
    return runs.assign(variant_base=runs["variant"], variant=labels)


def _median_score(group: pd.DataFrame, mode: str) -> float:
    """Median final validation metric of a setting's runs; diverged runs count as the worst."""
    worst = math.inf if mode == "min" else -math.inf
    values = []
    for status, value in zip(group["status"], group["final_metric"], strict=True):
        if status == "failed":
            continue
        if status == "diverged" or value is None or not math.isfinite(float(value)):
            values.append(worst)
        else:
            values.append(float(value))
    if not values:
        return math.nan
    return float(pd.Series(values).median())


def tuning_seeds(group: pd.DataFrame) -> set:
    """The seeds every setting of one (task, length, variant) was run with: selection scores
    each setting on these only, so a setting given extra (evaluation) seeds after it was chosen
    is compared on the same seeds as the others. All seeds when no seed is shared."""
    per_setting = [set(runs_of["seed"]) for _, runs_of in group.groupby("_setting", sort=True)]
    shared = set.intersection(*per_setting) if per_setting else set()
    return shared or set(group["seed"])


def select(runs: pd.DataFrame, mode: str = "val", over: list[str] | None = None) -> Selection:
    """Select each variant's setting on validation (`mode="val"`), or keep every setting as its
    own row (`mode="none"`). `over` names the selection axes (default: every swept key).

    Raises ValueError for an unknown mode, or an axis in `over` that is not a config key of the
    runs or does not vary.
    """
    if mode not in MODES:
        raise ValueError(f"--select {mode!r} is invalid: expected one of {', '.join(MODES)}")
    swept = swept_keys(runs)
    if mode == "none" or not swept:
        if over and not swept:
            _resolve_axes(runs, swept, over)
        return Selection(runs=_labelled(runs, swept), mode="none", split=swept)
    axes = _resolve_axes(runs, swept, over)
    split = [k for k in swept if k not in axes]
    labelled = _labelled(runs, split)
    texts = labelled[axes].apply(_as_text)
    labelled = labelled.assign(_setting=texts.apply(lambda r: json.dumps(list(r)), axis=1))
    kept, chosen = [], []
    for (task, length, variant), group in labelled.groupby(TABLE_KEYS, sort=True, dropna=False):
        mode_of = str(group["metric_mode"].dropna().iloc[0]) if group["metric_mode"].notna().any() \
            else "min"
        tuning = tuning_seeds(group)
        scores = {
            setting: _median_score(runs_of[runs_of["seed"].isin(tuning)], mode_of)
            for setting, runs_of in group.groupby("_setting", sort=True)
        }
        finite = {s: v for s, v in scores.items() if not math.isnan(v)}
        if not finite:
            best = sorted(scores)[0]
        else:
            pick = min if mode_of == "min" else max
            best = pick(sorted(finite), key=lambda s: finite[s])
        selected = group[group["_setting"] == best]
        kept.append(selected)
        chosen.append(
            {
                "task": task,
                "length": length,
                "variant": variant,
                "selected": setting_text(selected.iloc[0], axes),
                "val_metric": str(selected["metric"].iloc[0]),
                "val_median": scores[best],
                "n_settings": len(scores),
                "n_seeds": len(selected),
                "tuning_seeds": len(tuning),
                "settings": {s: scores[s] for s in sorted(scores)},
            }
        )
    chosen_frame = pd.DataFrame(chosen)
    result = pd.concat(kept, ignore_index=True).drop(columns="_setting")
    return Selection(
        runs=result,
        mode="val",
        axes=axes,
        split=split,
        chosen=chosen_frame,
        notes=budget_notes(chosen_frame, axes),
    )


def budget_notes(chosen: pd.DataFrame, axes: list[str]) -> list[str]:
    """Warnings where variants of one (task, length) were given different numbers of settings."""
    notes = []
    for (task, length), table in chosen.groupby(["task", "length"], sort=True):
        budgets = dict(zip(table["variant"], table["n_settings"], strict=True))
        if len(set(budgets.values())) > 1:
            shown = ", ".join(f"{v} {n}" for v, n in sorted(budgets.items()))
            notes.append(
                f"unequal tuning budget in {task}, T = {length}: settings of "
                f"{', '.join(short(a) for a in axes)} per variant: {shown}; the variants with "
                "more settings had more chances to look good on validation"
            )
    return notes


def selection_markdown(selection: Selection) -> str:
    """The report's selection section: the rule, the budget and the chosen setting per row."""
    if selection.mode == "none":
        if not selection.split:
            return ""
        keys = ", ".join(f"`{short(k)}`" for k in selection.split)
        return (
            "## Hyperparameter settings\n\n"
            f"The runs differ in {keys}; with `--select none` every setting is its own row "
            "(labelled with its values), nothing is selected and no budget applies.\n"
        )
    axes = ", ".join(f"`{short(a)}`" for a in selection.axes)
    chosen = selection.chosen
    budgets = sorted(set(chosen["n_settings"]))
    lines = [
        "## Hyperparameter selection\n",
        f"Selection axes: {axes}. For each (task, T, variant) the setting with the best median "
        "final validation metric over its seeds is selected (a diverged run counts as the worst "
        "value; failed runs are left out), and the tables report that setting's held-out test "
        "results: the test set is never used to select.\n",
    ]
    if (chosen["tuning_seeds"] < chosen["n_seeds"]).any():
        lines.append(
            "Settings are compared on the seeds every setting was run with (`tuning seeds`); "
            "the selected setting's further seeds were run after it was chosen and enter the "
            "tables only.\n"
        )
    if len(budgets) == 1:
        lines.append(
            f"Budget: every variant was given {budgets[0]} setting(s) of {axes} per task and "
            "length (equal across variants).\n"
        )
    else:
        lines.append("Budget: **unequal** across variants (see the warnings below).\n")
    if selection.split:
        keys = ", ".join(f"`{short(k)}`" for k in selection.split)
        lines.append(f"Also varied, not selected over (each value is its own row): {keys}.\n")
    shown = pd.DataFrame(
        {
            "task": chosen["task"],
            "T": chosen["length"],
            "variant": chosen["variant"],
            "selected": chosen["selected"],
            "median val metric": [
                f"{m}: {v:.4g}" if math.isfinite(v) else f"{m}: -"
                for m, v in zip(chosen["val_metric"], chosen["val_median"], strict=True)
            ],
            "settings tried": chosen["n_settings"],
            "tuning seeds": chosen["tuning_seeds"],
            "runs (seeds)": chosen["n_seeds"],
        }
    )
    lines.append(shown.to_markdown(index=False) + "\n")
    lines.extend(f"- Warning: {note}" for note in selection.notes)
    return "\n".join(lines) + "\n"
