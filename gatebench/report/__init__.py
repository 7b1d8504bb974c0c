"""gatebench.report: run records -> tidy frames, comparison tables, statistics and plots.

Reads run records only (pandas; scipy and matplotlib on use): never torch, `variants`, `tasks`.
"""

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
