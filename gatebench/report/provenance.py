"""Where the runs came from: times, software, commit, machine, all read from the run records.

Times come from the records only (`wall_time_s`, and the `started_at`/`ended_at` stamps the
runner writes), never from file modification times, which a copy or a fresh clone resets.
"""

from __future__ import annotations

import math
import os
import platform

import pandas as pd


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.3g} min ({seconds:.0f} s)"


def sweep_wall_time(runs: pd.DataFrame) -> tuple[float, int]:
    """(last `ended_at` - first `started_at` in seconds, runs without both stamps); NaN when no
    run carries them."""
    if not {"started_at", "ended_at"} <= set(runs.columns):
        return math.nan, len(runs)
    started = pd.to_numeric(runs["started_at"], errors="coerce")
    ended = pd.to_numeric(runs["ended_at"], errors="coerce")
    stamped = started.notna() & ended.notna()
    if not stamped.any():
        return math.nan, len(runs)
    return float(ended[stamped].max() - started[stamped].min()), int((~stamped).sum())


def time_lines(runs: pd.DataFrame) -> list[str]:
    """Markdown bullets: the sweep's wall time (from the stamps) and the summed run time."""
    span, unstamped = sweep_wall_time(runs)
    if math.isfinite(span):
        line = "- Sweep wall time (first run start to last run end, from the records): " + _minutes(
            span
        )
        if unstamped:
            line += f"; {unstamped} run(s) carry no start/end stamps and are not in this span"
        lines = [line]
    else:
        lines = [
            "- Sweep wall time: unknown (the records carry no `started_at`/`ended_at` stamps; "
            "file times are not used, since a copy or a clone resets them)"
        ]
    wall = pd.to_numeric(runs.get("wall_time_s", pd.Series(dtype=float)), errors="coerce")
    known = int(wall.notna().sum())
    if known:
        line = f"- Summed training time of the runs (`wall_time_s`): {_minutes(float(wall.sum()))}"
        if known < len(runs):
            line += f"; unknown for {len(runs) - known} run(s), not included"
        lines.append(line)
    else:
        lines.append("- Summed training time of the runs: unknown (no `wall_time_s` recorded)")
    return lines


def _distinct(runs: pd.DataFrame, column: str) -> str:
    if column not in runs.columns:
        return "-"
    values = sorted({str(v) for v in runs[column].dropna()})
    return ", ".join(values[:4]) + (f" (+{len(values) - 4} more)" if len(values) > 4 else "")


def provenance(runs: pd.DataFrame) -> str:
    """Markdown lines: times, software versions and commit from the records, the machine."""
    lines = time_lines(runs)
    versions = [c for c in runs.columns if c.startswith("versions.")]
    if versions:
        shown = "; ".join(f"{c.split('.', 1)[1]} {_distinct(runs, c)}" for c in versions)
        lines.append(f"- Software (from the records): {shown}")
    lines.append(f"- Git commit: {_distinct(runs, 'git_commit')}")
    lines.append(
        f"- Report written on: {platform.platform()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()})"
    )
    return "\n".join(lines) + "\n"
