"""A report written whole or not at all: `write_report` into a staging folder inside the output
directory, then every file moved into place with `os.replace` (report.md last). Ctrl-C or an
error on the way removes the staging folder, and the output directory keeps its previous files
whole; staging folders of processes that died (a kill) are removed by the next report."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from gatebench.report.records import RunRecords
from gatebench.report.writer import Report, write_report

_STAGING = re.compile(r"^\.report-(?P<host>.+)-(?P<pid>\d+)-.*\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out: Path) -> list[Path]:
    """Staging folders in `out` left by a process of this host that no longer runs."""
    removed = []
    for path in out.glob(".report-*.tmp"):
        found = _STAGING.match(path.name)
        if found and found["host"] == socket.gethostname() and not _alive(int(found["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def write_report_whole(records: RunRecords, out_dir: str | Path, **options: Any) -> Report:
    """`write_report(records, out_dir, **options)`, written whole or not at all (see module)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    prefix = f".report-{socket.gethostname()}-{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out))
    try:
        report = write_report(records, staging, **options)
        written = sorted((p for p in staging.rglob("*") if p.is_file()),
                         key=lambda p: (p.name == "report.md", str(p)))  # fmt: skip
        for path in written:
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    moved = [out / p.relative_to(staging) if p.is_relative_to(staging) else p
             for p in report.files]  # fmt: skip
    return replace(report, files=moved)
