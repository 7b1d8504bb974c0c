"""gatebench.report: run records -> tidy frames, comparison tables, statistics and plots.

Reads run records only (pandas; scipy and matplotlib on use): never torch, `variants`, `tasks`.
The names below load on first use (PEP 562): a training job imports `gatebench.report.callback`
(Hydra's end-of-sweep hook) and must not pay for pandas at start-up (issue 27).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatebench.report.records import (
        RunRecords,
        apply_filters,
        filter_records,
        load_runs,
        parse_filters,
        row_from_record,
    )
    from gatebench.report.tables import problem_runs, summarize
    from gatebench.report.writer import Report, display_table, markdown_tables, write_report

_HOME = {
    "RunRecords": "records",
    "apply_filters": "records",
    "filter_records": "records",
    "load_runs": "records",
    "parse_filters": "records",
    "row_from_record": "records",
    "problem_runs": "tables",
    "summarize": "tables",
    "Report": "writer",
    "display_table": "writer",
    "markdown_tables": "writer",
    "write_report": "writer",
}

__all__ = [
    "Report",
    "RunRecords",
    "apply_filters",
    "display_table",
    "filter_records",
    "load_runs",
    "markdown_tables",
    "parse_filters",
    "problem_runs",
    "row_from_record",
    "summarize",
    "write_report",
]


def __getattr__(attr: str) -> Any:
    if attr in _HOME:
        value = getattr(importlib.import_module(f"gatebench.report.{_HOME[attr]}"), attr)
        globals()[attr] = value
        return value
    raise AttributeError(f"module 'gatebench.report' has no attribute {attr!r}")
