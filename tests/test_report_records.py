"""Reading run records into the tidy runs frame and long curves; filters; bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fixtures.report.builder import _record, write_fixture_sweep, write_run

from gatebench.report import filter_records, load_runs, parse_filters, row_from_record


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_fixture_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def records(sweep):
    return load_runs([sweep.root])


def test_one_row_per_run_with_its_status(sweep, records):
    runs = records.runs
    assert len(runs) == len(sweep.statuses)
    assert dict(zip(runs["source"], runs["status"], strict=True)) == sweep.statuses
    assert runs["source"].is_unique


def test_row_carries_coordinates_and_final_primary_metric(sweep, records):
    runs = records.runs
    adding = runs[(runs["task"] == "adding") & (runs["status"] != "diverged")]
    assert set(adding["metric"]) == {"mse"}
    got = adding[(adding["length"] == 10) & (adding["variant"] == "rnn")]
    assert sorted(got["final_metric"]) == pytest.approx(sorted(sweep.values[("adding", 10, "rnn")]))
    assert got["final_metric"].to_numpy() == pytest.approx(got["val/mse"].to_numpy())
    assert set(got["params"]) == {sweep.params["rnn"]}
    assert (got["config.optimizer.lr"] == 0.001).all()


def test_failed_run_with_empty_metrics_has_a_row_and_no_curve(records):
    failed = records.runs[records.runs["status"] == "failed"]
    assert len(failed) == 1
    assert failed["message"].iloc[0].startswith("RuntimeError")
    assert np.isnan(failed["final_metric"].iloc[0])
    assert not records.curves["source"].isin(failed["source"]).any()


def test_curves_are_long_and_finite(sweep, records):
    curves = records.curves
    assert list(curves.columns[:5]) == ["source", "task", "length", "variant", "seed"]
    assert np.isfinite(curves["value"]).all()
    one = curves[curves["source"] == str(sweep.root / "0")]
    wide = pd.read_csv(sweep.root / "0" / "metrics.csv")
    val = wide["val/norm_loss"].dropna()
    got = one[one["metric"] == "val/norm_loss"].sort_values("step")["value"]
    np.testing.assert_allclose(got, val)
    diverged = records.runs.loc[records.runs["status"] == "diverged", "source"].iloc[0]
    assert curves.loc[curves["source"] == diverged, "step"].max() == 100  # NaN rows dropped


def test_metric_falls_back_to_norm_loss():
    row = row_from_record({"status": "finished", "norm_loss": 0.4, "final": {}}, "x")
    assert (row["metric"], row["metric_mode"], row["final_metric"]) == ("norm_loss", "min", 0.4)


def test_variant_label_from_config_names_presets():
    record = {"variant": "lstm", "status": "finished", "config": {"variant_label": "lstm_fb1"}}
    row = row_from_record(record, "x")
    assert (row["variant"], row["variant_name"]) == ("lstm_fb1", "lstm")


def test_unreadable_record_is_listed_not_a_row_and_jobs_without_record_are_noted(tmp_path):
    root = write_fixture_sweep(tmp_path, variants=("lstm",), lengths=(10,), seeds=(0,)).root
    (root / "bad").mkdir()
    (root / "bad" / "results.json").write_text("{not json")
    (root / "nothing" / ".hydra").mkdir(parents=True)
    records = load_runs([root])
    assert str(root / "bad") not in set(records.runs["source"])
    assert any(f"invalid record {root / 'bad' / 'results.json'}: unreadable" in note
               for note in records.notes)
    assert any(str(root / "nothing") in note for note in records.notes)


def test_a_results_file_path_is_accepted(sweep):
    records = load_runs([sweep.root / "3" / "results.json"])
    assert list(records.runs["source"]) == [str(sweep.root / "3")]


def test_filters_keep_matching_runs_and_their_curves(records):
    kept = filter_records(records, parse_filters(["task=copy", "variant=lstm,gru"]))
    assert set(kept.runs["task"]) == {"copy"} and set(kept.runs["variant"]) == {"lstm", "gru"}
    assert set(kept.curves["source"]) <= set(kept.runs["source"])
    assert set(filter_records(records, {"length": "40"}).runs["length"]) == {40}


@pytest.mark.parametrize("pair", ["task", "=adding", "task="])
def test_bad_filter_is_a_value_error(pair):
    with pytest.raises(ValueError, match="--filter"):
        parse_filters([pair])


def test_unknown_filter_key_is_a_value_error(records):
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        filter_records(records, {"colour": "red"})


def test_no_records_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no run records"):
        load_runs([tmp_path])
    with pytest.raises(ValueError, match="neither a directory"):
        load_runs([tmp_path / "missing"])


def test_record_json_round_trip_keeps_nulls(tmp_path):
    coordinates = _record("adding", 10, "lstm", 0, "mse", "min", 1 / 6)
    record = {**coordinates, "status": "diverged", "final": {"val/loss": None}, "norm_loss": None}
    write_run(tmp_path / "r", record, None)
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == record
    row = load_runs([tmp_path]).runs.iloc[0]
    assert row["status"] == "diverged" and np.isnan(row["norm_loss"])
