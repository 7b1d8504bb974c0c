"""Hydra callback that writes the report into the sweep directory when a multirun ends.

Registered in `conf/train.yaml` under `hydra.callbacks`; imports pandas and the report only in
`on_multirun_end`, so single runs do not pay for it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def sweep_command(config: DictConfig) -> str | None:
    """The sweep's command line rebuilt from `hydra.overrides.task` (None when absent)."""
    overrides = OmegaConf.select(config, "hydra.overrides.task", default=None)
    if overrides is None:
        return None
    module = "gatebench.train"
    return " ".join(["python -m", module, "-m", *[str(o) for o in overrides]])


class QuietThirdPartyInfo(logging.Filter):
    """Drop INFO and DEBUG lines that scipy logs on the root logger (shgo, inside Boschloo's
    test, prints its minimiser pool) which Hydra sets to INFO: they would precede the table."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or f"{os.sep}scipy{os.sep}" not in record.pathname


@contextmanager
def quiet_third_party() -> Iterator[None]:
    """QuietThirdPartyInfo on the root logger for the duration."""
    quiet, root = QuietThirdPartyInfo(), logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def other_sweeps_running(sweep_dir: str) -> list[str]:
    """`pid N on host H` of every other sweep invocation still running in `sweep_dir` (their
    folders are locked while they run: `gatebench.sweep.invocation`)."""

    from gatebench.run.lock import holder
    from gatebench.run.schema import SWEEP_ID_ENV, SWEEPS_DIR

    root, own = Path(sweep_dir) / SWEEPS_DIR, os.environ.get(SWEEP_ID_ENV)
    if not root.is_dir():
        return []
    return [who for d in sorted(root.iterdir()) if d.name != own and (who := holder(d))]


class WriteReport(Callback):
    """Write report.md, CSV, LaTeX and plots into `hydra.sweep.dir`; print the narrow summary
    (`gatebench.report.terminal`: one table per task and length, the winner, the paths).

    A report error is printed as a warning and never fails the sweep.
    """

    def __init__(
        self,
        reference: str = "lstm",
        plots: bool = True,
        print_table: bool = True,
        family: str = "study",
        select: str = "val",
    ):
        self.reference = reference
        self.family = family
        self.plots = plots
        self.print_table = print_table
        self.select = select

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        running = other_sweeps_running(sweep_dir) if sweep_dir else []
        if running:  # its jobs are not all recorded yet: the last sweep to end writes it
            print(f"report: not written: another sweep still trains in {sweep_dir} "
                  f"({', '.join(running)}); the last one to end writes it, or run: "
                  f"python -m gatebench.report {sweep_dir}")
            return
        try:
            if sweep_dir is None:
                raise ValueError("config has no hydra.sweep.dir")
            from gatebench.report.records import load_runs
            from gatebench.report.staging import write_report_whole
            from gatebench.report.terminal import terminal_summary

            records = load_runs([sweep_dir])
            with quiet_third_party():
                report = write_report_whole(
                    records,
                    sweep_dir,
                    reference=self.reference,
                    title=f"gatebench sweep {sweep_dir}",
                    command=sweep_command(config),
                    plots=self.plots,
                    family=self.family,
                    select=self.select,
                )
            if self.print_table:
                print(terminal_summary(report.summary, report.files))
            for note in records.notes:  # invalid files, unreadable metrics, job folders
                print(f"report: not used: {note}")
        except KeyboardInterrupt:  # the jobs are recorded: one line, not a traceback
            print(f"gatebench: report interrupted: none written to {sweep_dir} (its previous "
                  f"files are whole); write it with: python -m gatebench.report {sweep_dir}",
                  file=sys.stderr)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - a report must never crash the sweep
            warnings.warn(f"gatebench.report: no report for {sweep_dir}: {error}", stacklevel=1)
