"""Times come from the records, never from file times: a report from a fresh clone shows the
sweep's real wall time."""

from __future__ import annotations

import json
import subprocess
import sys

from fixtures.report.builder import write_fixture_sweep

START = "2026-11-27T04:10:00+00:00"


def _stamp(sweep_root, minutes_apart: float = 3.0) -> float:
    """Give every run start/end stamps: job i runs from START + i * minutes_apart for 2 min."""
    import datetime as dt

    start = dt.datetime.fromisoformat(START)
    last_end = start
    for i, path in enumerate(sorted(sweep_root.glob("*/results.json"))):
        record = json.loads(path.read_text())
        begin = start + dt.timedelta(minutes=i * minutes_apart)
        end = begin + dt.timedelta(minutes=2)
        record["started_at"] = begin.isoformat().replace("+00:00", "Z")
        record["ended_at"] = end.isoformat()
        path.write_text(json.dumps(record))
        last_end = max(last_end, end)
    return (last_end - start).total_seconds()


def _git(*args, cwd):
    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env = {**who, "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def test_a_report_from_a_fresh_clone_shows_the_sweeps_real_wall_time(tmp_path):
    sweep = write_fixture_sweep(tmp_path / "origin" / "sweep", lengths=(10,))
    span = _stamp(sweep.root)
    _git("init", "-q", cwd=tmp_path / "origin")
    _git("add", "-A", cwd=tmp_path / "origin")
    _git("commit", "-qm", "records", cwd=tmp_path / "origin")
    _git("clone", "-q", str(tmp_path / "origin"), str(tmp_path / "clone"), cwd=tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.report", str(tmp_path / "clone" / "sweep"), "--no-plots"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "clone" / "sweep" / "report.md").read_text()
    want = f"{span / 60:.3g} min ({span:.0f} s)"
    assert f"Sweep wall time (first run start to last run end, from the records): {want}" in report
    runs = len(list((tmp_path / "clone" / "sweep").glob("*/results.json")))
    summed = 1.5 * runs  # every fixture record says wall_time_s = 1.5
    assert f"(`wall_time_s`): {summed / 60:.3g} min ({summed:.0f} s)" in report


def test_without_stamps_the_wall_time_is_marked_unknown(tmp_path):
    sweep = write_fixture_sweep(tmp_path / "sweep", lengths=(10,))
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.report", str(sweep.root), "--no-plots"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = (sweep.root / "report.md").read_text()
    assert "Sweep wall time: unknown (the records carry no `started_at`/`ended_at`" in report
