"""Tag every log line of a job with its run name (`[lstm-adding-T100-s0] step 300/2000 ...`), so
the interleaved output of a parallel sweep stays readable."""

from __future__ import annotations

import logging


class RunNameFormatter(logging.Formatter):
    """Wrap a handler's formatter: the same line, its message prefixed by `[run_name] `."""

    def __init__(self, inner: logging.Formatter | None, run_name: str) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.run_name = run_name

    def format(self, record: logging.LogRecord) -> str:
        msg, args = record.msg, record.args
        record.msg, record.args = f"[{self.run_name}] {record.getMessage()}", None
        try:
            return self.inner.format(record)
        finally:
            record.msg, record.args = msg, args


def tag_log_lines(run_name: str) -> None:
    """Prefix the messages of every handler of the root logger (Hydra's console and
    `<run_dir>/train.log`) with the run name; a handler already tagged gets the new name."""
    for handler in logging.getLogger().handlers:
        inner = handler.formatter
        if isinstance(inner, RunNameFormatter):
            inner = inner.inner
        handler.setFormatter(RunNameFormatter(inner, run_name))
