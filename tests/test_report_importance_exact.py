"""fANOVA importance against independent values (issue 25, from mutmut's survivors): each swept
key's Optuna distribution (integer, float with a log scale from a factor of 10 between positive
ends, categorical), the shares equal to Optuna's evaluator run by hand on the same trials with
64 trees and seed 0, and every column of the table's rows (left-out runs, solved runs, the
smallest usable sweep, the base variant of labelled settings, row order)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from test_report_fair_edges import _record, _runs

from gatebench.report.importance import COLUMNS, _distribution, fanova_importances, importance_table
from gatebench.report.selection import swept_keys


@pytest.mark.parametrize(
    "values, distribution, as_values",
    [
        ([8, 16, 32], IntDistribution(8, 32), [8, 16, 32]),  # a factor 4: linear
        ([8, 64, 128], FloatDistribution(8.0, 128.0, log=True), [8.0, 64.0, 128.0]),
        ([1, 20], FloatDistribution(1.0, 20.0, log=True), [1.0, 20.0]),
        ([0.001, 0.01], FloatDistribution(0.001, 0.01, log=True), [0.001, 0.01]),  # exactly 10
        ([0.1, 0.5], FloatDistribution(0.1, 0.5, log=False), [0.1, 0.5]),
        ([0.0, 0.5, 20.0], FloatDistribution(0.0, 20.0, log=False), [0.0, 0.5, 20.0]),  # from 0
        (["lstm", "gru", "lstm"], CategoricalDistribution(["gru", "lstm"]),
         ["lstm", "gru", "lstm"]),
        (["1", "x"], CategoricalDistribution(["1", "x"]), ["1", "x"]),
    ],
)  # fmt: skip
def test_each_key_gets_its_optuna_distribution(values, distribution, as_values) -> None:
    got, converted = _distribution(pd.Series(values))
    assert got == distribution
    assert converted == as_values
    assert [type(v) for v in converted] == [type(v) for v in as_values]


def _frame() -> pd.DataFrame:
    lrs = (0.0003, 0.001, 0.003, 0.01, 0.03)
    rows = [(lr, h, (math.log10(lr) + 2) ** 2 + h / 640) for lr in lrs for h in (8, 16, 32)]
    return pd.DataFrame(rows, columns=["config.optimizer.lr", "config.variant.hidden_size", "m"])


def _by_hand(frame: pd.DataFrame) -> dict[str, float]:
    """The same trials, written out, through Optuna's evaluator with 64 trees and seed 0."""
    import optuna

    distributions = {"optimizer.lr": FloatDistribution(0.0003, 0.03, log=True),
                     "variant.hidden_size": IntDistribution(8, 32)}  # fmt: skip
    study = optuna.create_study()
    study.add_trials([
        optuna.trial.create_trial(
            params={"optimizer.lr": float(lr), "variant.hidden_size": int(h)},
            distributions=distributions, value=float(m),
        )
        for lr, h, m in frame.itertuples(index=False)
    ])  # fmt: skip
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=64, seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def test_shares_are_optunas_evaluator_with_64_trees_and_seed_0() -> None:
    frame = _frame()
    keys = ["config.optimizer.lr", "config.variant.hidden_size"]
    shares = fanova_importances(frame, keys, "m")
    assert shares == _by_hand(frame)
    assert shares["optimizer.lr"] > 0.8


def test_table_rows_hold_every_column(tmp_path) -> None:
    """gru has 15 runs, one diverged and one solved; lstm (written first) exactly two usable
    runs (the smallest sweep fANOVA is run on). Labelled settings count under their base."""
    records = [_record("lstm", 0, 0.001, 0.2, None, hidden=8),
               _record("lstm", 1, 0.01, 0.4, None, hidden=16)]  # fmt: skip
    for k, (lr, h, m) in enumerate(_frame().itertuples(index=False)):
        record = _record("gru", k, lr, m, None, hidden=h)
        record["status"] = "solved" if k == 3 else "finished"
        records.append(record)
    records.append(_record("gru", 99, 0.01, 0.5, None, hidden=16))
    records[-1].update(status="diverged", final={})
    runs = _runs(tmp_path, records)
    keys = swept_keys(runs)
    labelled = runs.assign(variant_base=runs["variant"], variant=runs["variant"] + " [x]")
    table = importance_table(labelled, keys)
    assert list(table.columns) == COLUMNS
    assert list(zip(table["variant"], table["key"], strict=True)) == [
        ("gru", "optimizer.lr"), ("gru", "variant.hidden_size"),
        ("lstm", "optimizer.lr"), ("lstm", "variant.hidden_size"),
    ]  # fmt: skip
    assert set(table["task"]) == {"adding"} and set(table["length"]) == {10}
    assert set(table["metric"]) == {"val/mse"}
    assert list(table["n_trials"]) == [15, 15, 2, 2]
    assert list(table["n_left_out"]) == [1, 1, 0, 0]
    expected = _by_hand(_frame())
    assert list(table["importance"][:2]) == [expected["optimizer.lr"],
                                             expected["variant.hidden_size"]]  # fmt: skip
    assert table["importance"][2:].notna().all()


def test_a_text_key_varies_too_and_no_variant_with_two_keys_gives_an_empty_table(
    tmp_path,
) -> None:
    records = [_record("gru", k, lr, 0.5, None) for k, lr in enumerate((0.001, 0.01, 0.001))]
    records[2]["config"]["optimizer"]["name"] = "sgd"  # a swept key whose values are text
    runs = _runs(tmp_path, records)
    keys = swept_keys(runs)
    assert keys == ["config.optimizer.lr", "config.optimizer.name"]
    table = importance_table(runs, keys)
    assert list(table["key"]) == ["optimizer.lr", "optimizer.name"]
    assert table["importance"].isna().all()  # a constant metric has no variance to share
    one_key = importance_table(runs, keys[:1])
    assert one_key.empty and list(one_key.columns) == COLUMNS
