"""`python -m gatebench.report` under faults (issue 24): an output directory it cannot write is
one line and exit 1; a Ctrl-C (a real SIGINT) while it writes leaves the previous report whole,
no staging folder, one line and exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.report.builder import write_fixture_sweep

from gatebench.report.__main__ import main

REPO = Path(__file__).resolve().parent.parent


def test_an_unwritable_out_is_one_line_and_exit_1(tmp_path, capsys) -> None:
    sweep = tmp_path / "sweep"
    write_fixture_sweep(sweep, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1))
    (tmp_path / "a_file").write_text("not a directory\n")
    out = tmp_path / "a_file" / "report"  # mkdir fails (ENOTDIR), as on a read-only mount
    assert main([str(sweep), "--out", str(out), "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"gatebench.report: error: cannot write the report to {out}: ")
    assert err.count("\n") == 1


@pytest.mark.slow  # a report process interrupted by a real SIGINT: ~5-15 s
def test_ctrl_c_while_writing_leaves_the_previous_report_whole(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    write_fixture_sweep(sweep, variants=("lstm", "gru", "rnn"), lengths=(10, 40))
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("the previous report\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gatebench.report", str(sweep), "--out",
                             str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not list(out.glob(".report-*.tmp/*")) and proc.poll() is None:
        time.sleep(0.002)  # interrupt once it has written into its staging folder
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines() == [
        f"gatebench.report: interrupted: no report written to {out} (its previous files are "
        "whole); run the same command again"]
    assert (out / "report.md").read_text() == "the previous report\n"
    assert not list(out.glob(".report-*"))


def test_staging_folders_of_dead_processes_are_removed_live_ones_kept(tmp_path) -> None:
    import socket

    from gatebench.report.records import load_runs
    from gatebench.report.staging import write_report_whole

    sweep, out = tmp_path / "sweep", tmp_path / "out"
    write_fixture_sweep(sweep, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1))
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    killed = out / f".report-{host}-{dead}-ab.tmp"  # its process has exited
    live = out / f".report-{host}-{os.getpid()}-cd.tmp"
    for folder in (killed, live):
        folder.mkdir(parents=True)
        (folder / "runs.csv").write_text("half")
    report = write_report_whole(load_runs([sweep]), out, plots=False)
    assert not killed.exists() and live.is_dir()  # a live process may still be writing its own
    assert report.files[0] == out / "report.md" and all(p.parent == out for p in report.files)
    assert all(p.is_file() for p in report.files)
