"""A report over a sweep holding every kind of bad file finishes, lists each bad file by path
with its reason (report.md and terminal), and reports the valid runs (issue 12, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from fixtures.report.builder import write_fixture_sweep

from gatebench.report.records import load_runs

REPO = Path(__file__).resolve().parent.parent


def _bad_sweep(root: Path) -> dict[str, str]:
    """A fixture sweep plus one folder per bad file; returns folder -> expected reason."""
    write_fixture_sweep(root, variants=("lstm", "gru"), lengths=(10,), seeds=(0, 1))
    good = json.loads(next(root.glob("*/results.json")).read_text())
    bad = {
        "bad_list": ("[1, 2]", "not a JSON object but list"),
        "bad_null": ("null", "not a JSON object but NoneType"),
        "bad_garbage": ('{"foo": 1, "status": "finished"}', "no task"),
        "bad_nostatus": (json.dumps({**good, "status": None}), "no status"),
        "bad_nofinal": (json.dumps({**good, "final": {}}), "but no final val/"),
        "bad_json": ("{not json", "unreadable"),
    }
    for name, (text, _) in bad.items():
        (root / name / ".hydra").mkdir(parents=True)
        (root / name / "results.json").write_text(text)
    (root / "csv_broken").mkdir()  # a valid record whose metrics.csv is not text
    (root / "csv_broken" / "results.json").write_text(json.dumps({**good, "seed": 7}))
    (root / "csv_broken" / "metrics.csv").write_bytes(b"step,val/loss\n1,\xff\xfe\x00\x81\n")
    (root / "empty_job").mkdir()
    (root / "killed_job" / "checkpoints").mkdir(parents=True)
    (root / "killed_job" / ".hydra").mkdir()
    (root / "killed_job" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    return {name: reason for name, (_, reason) in bad.items()}


def test_report_over_bad_records_lists_each_and_reports_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    expected = _bad_sweep(root)
    records = load_runs([root])
    notes = "\n".join(records.notes)
    for name, reason in expected.items():
        line = next(n for n in records.notes if str(root / name / "results.json") in n)
        assert reason in line, (name, line)
    assert f"unreadable {root / 'csv_broken' / 'metrics.csv'}" in notes
    assert f"empty job folder (the job never started): {root / 'empty_job'}" in notes
    killed = f"job killed after a checkpoint (re-run the sweep to resume it): {root / 'killed_job'}"
    assert killed in notes
    # no row for an invalid file: the rows are the fixture's runs plus csv_broken's valid record
    sources = set(records.runs["source"])
    assert not any(name in s for s in sources for name in expected)
    assert str(root / "csv_broken") in sources
    assert set(records.runs["task"]) <= {"adding", "copy"} and records.runs["length"].min() >= 1

    # the real CLI: it finishes, prints each bad file, and report.md lists them with the reason
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "gatebench.report", str(root), "--out", str(out), "--no-plots"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = (out / "report.md").read_text()
    for name, reason in expected.items():
        assert str(root / name / "results.json") in result.stdout
        assert str(root / name / "results.json") in report and reason in report
    assert "?" not in "".join(line for line in report.splitlines() if line.startswith("### "))
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len(records.runs)  # every valid run reported
