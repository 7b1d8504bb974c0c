"""The Hydra callback writes the report into the sweep directory and never fails the sweep."""

from __future__ import annotations

import pytest
from fixtures.report.builder import write_fixture_sweep
from omegaconf import OmegaConf

from gatebench.report.callback import WriteReport, sweep_command


def _config(sweep_dir, overrides=("variant=lstm,rnn", "seed=0,1")):
    return OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(sweep_dir)}, "overrides": {"task": list(overrides)}}}
    )


def test_on_multirun_end_writes_report_and_prints_the_table(tmp_path, capsys):
    sweep = write_fixture_sweep(tmp_path / "sweep", lengths=(10,), seeds=(0, 1, 2))
    WriteReport(plots=False).on_multirun_end(_config(sweep.root))
    out = capsys.readouterr().out
    assert "adding, T = 10: test/mse" in out and "\nvariant " in out
    assert "\nlstm " in out and "\nrnn " in out and f"report: {sweep.root / 'report.md'}" in out
    report = (sweep.root / "report.md").read_text()
    assert "python -m gatebench.train -m variant=lstm,rnn seed=0,1" in report
    assert (sweep.root / "summary.csv").stat().st_size > 0


def test_a_report_error_is_a_warning_not_a_crash(tmp_path):
    empty = tmp_path / "empty_sweep"
    empty.mkdir()
    with pytest.warns(UserWarning, match="no report for .*no run records"):
        WriteReport().on_multirun_end(_config(empty))
    with pytest.warns(UserWarning, match="no hydra.sweep.dir"):
        WriteReport().on_multirun_end(OmegaConf.create({}))


def test_sweep_command_from_overrides():
    assert sweep_command(_config("x", ("a=1",))) == "python -m gatebench.train -m a=1"
    assert sweep_command(OmegaConf.create({})) is None
