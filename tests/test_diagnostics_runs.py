"""Diagnostics of real runs: the training callback, `gatebench.diagnose`, the report's plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tasks
from gatebench.config.validation import ConfigError
from gatebench.diagnose import main as diagnose
from gatebench.train import train

REPO = Path(__file__).resolve().parent.parent
ADDING = ["task=adding", "task.length=8", "logger=csv"]


def _npz(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "diagnostics.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory) -> Path:
    """A tiny finished LSTM run with diagnostics every 10 steps (20 steps in all)."""
    from conftest import TINY, compose_config

    run_dir = tmp_path_factory.mktemp("runs") / "lstm"
    cfg = compose_config([*TINY, *ADDING, "variant=lstm", "diagnostics.every=10"], run_dir)
    train(cfg)
    return run_dir


def test_training_run_records_diagnostics_without_changing_training(lstm_run, tiny_config,
                                                                      tmp_path) -> None:
    record = json.loads((lstm_run / "results.json").read_text())
    diag = record["diagnostics"]
    assert [s["step"] for s in diag["snapshots"]] == [0, 10, 20]
    assert [s["label"] for s in diag["snapshots"]] == ["init", "step 10", "end"]
    data = _npz(lstm_run)
    assert list(data["steps"]) == [0, 10, 20] and list(data["gate_names"]) == ["i", "f", "o", "g"]
    assert data["gate_mean"].shape == (3, 4, 8) and data["grad_quantiles"].shape == (3, 2, 8, 5)
    assert diag["snapshots"][-1]["mean_f"] == pytest.approx(data["gate_mean"][2, 1].mean())
    # the marked inputs are where the adding task put its markers (value channel aside)
    x = tasks.build("adding", length=8).batch(64, _val_generator())[0]
    rows = np.arange(64)[:, None]
    assert (x[rows, data["marked"], 1] == 1).all() and (data["readout"] == 7).all()
    plain = train(tiny_config(*ADDING, "variant=lstm", "diagnostics.enabled=false",
                              run_dir=tmp_path / "plain"))
    assert plain["diagnostics"] is None and not (tmp_path / "plain" / "diagnostics.npz").exists()
    assert plain["final"] == record["final"] and plain["test"] == record["test"]


def _val_generator() -> torch.Generator:
    from tasks.seeds import stream_generator

    return stream_generator(0, "val")


def test_diagnose_cli_rebuilds_init_from_the_seed_and_end_from_the_checkpoint(lstm_run) -> None:
    trained = _npz(lstm_run)
    (lstm_run / "diagnostics.npz").unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "gatebench.diagnose", str(lstm_run)],
                          capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert done.returncode == 0, done.stderr
    again = _npz(lstm_run)
    assert list(again["labels"]) == ["init", "end"] and list(again["steps"]) == [0, 20]
    for key in ("gate_mean", "grad_quantiles", "retention", "retention_marked"):
        np.testing.assert_array_equal(again[key][0], trained[key][0], err_msg=key)
        np.testing.assert_array_equal(again[key][1], trained[key][2], err_msg=key)
    record = json.loads((lstm_run / "results.json").read_text())
    assert record["diagnostics"]["source"].startswith("gatebench.diagnose")
    assert record["status"] in ("finished", "solved") and record["steps"] == 20


def test_report_draws_the_diagnostics_plots(lstm_run, tmp_path) -> None:
    from gatebench.report.records import load_runs
    from gatebench.report.writer import write_report

    report = write_report(load_runs([lstm_run]), tmp_path / "report")
    png = tmp_path / "report" / "diagnostics_adding_T8.png"
    assert png in report.files and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "diagnostics_adding_T8" in report.markdown
    code = ("import sys, gatebench.report.diagnostics_plots, gatebench.report.writer; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)}).returncode == 0


def test_diagnose_without_or_with_a_corrupted_checkpoint_fails_naming_the_path(
        lstm_run, tmp_path, capsys) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "results.json").write_text((lstm_run / "results.json").read_text())
    assert diagnose([str(bare)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bare / "checkpoints" / "last.ckpt") in err[0]
    assert "no checkpoint" in err[0]
    (bare / "checkpoints").mkdir()
    (bare / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint at all")
    assert diagnose([str(bare)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupted checkpoint" in err[0]
    assert str(bare / "checkpoints" / "last.ckpt") in err[0]
    assert not (bare / "diagnostics.npz").exists()


def test_rnn_run_has_gradient_flow_and_no_gates(tiny_config, tmp_path) -> None:
    record = train(tiny_config(*ADDING, "variant=rnn", run_dir=tmp_path / "rnn"))
    end = record["diagnostics"]["snapshots"][-1]
    assert end["grad_ratio_h"] > 0 and end["retention_marked"] == [None, None]
    data = _npz(tmp_path / "rnn")
    assert data["gate_names"].shape == (0,) and str(data["keep_gate"]) == ""


@pytest.mark.parametrize(("key", "value"), [("diagnostics.every", 0),
                                            ("diagnostics.enabled", "yes"),
                                            ("diagnostics.batch_size", -1)])
def test_bad_diagnostics_settings_are_refused_naming_the_key(tiny_config, key, value) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}=.* is invalid: expected"):
        train(tiny_config(*ADDING, f"{key}={value}"))


@pytest.mark.slow  # a W&B offline run: ~20-90 s on a loaded 2-core machine
def test_wandb_gets_the_scalars_at_each_snapshot_and_the_figure(tiny_config, tmp_path) -> None:
    from test_train_wandb import read_wandb_records

    run_dir = tmp_path / "wb"
    record = train(tiny_config(*ADDING, "variant=gru", "logger=wandb", "logger.wandb.mode=offline",
                               "diagnostics.every=10", run_dir=run_dir))
    (log,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    history = [
        {".".join(item.nested_key) if item.nested_key else item.key: item.value_json
         for item in r.history.item}
        for r in read_wandb_records(log) if r.WhichOneof("record_type") == "history"
    ]
    ratios = [(int(json.loads(h["trainer/global_step"])), json.loads(h["diagnostics/grad_ratio_h"]))
              for h in history if "diagnostics/grad_ratio_h" in h]
    expected = [(s["step"], s["grad_ratio_h"]) for s in record["diagnostics"]["snapshots"]]
    assert [step for step, _ in ratios] == [0, 10, 20]
    assert [v for _, v in ratios] == pytest.approx([v for _, v in expected])
    figures = [h for h in history if "diagnostics/figures._type" in h]
    assert figures and "images" in json.loads(figures[0]["diagnostics/figures._type"])
    (name,) = json.loads(figures[0]["diagnostics/figures.filenames"])
    (png,) = (run_dir / "wandb").glob(f"offline-run-*/files/{name}")
    assert png.read_bytes()[:4] == b"\x89PNG"
