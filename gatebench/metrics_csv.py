"""Per-step metrics as one wide CSV in the run directory (`step` + one column per metric)."""

from __future__ import annotations

import csv
import os
from argparse import Namespace
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

METRICS_FILE = "metrics.csv"


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class MetricsCSVLogger(Logger):
    """Write `<run_dir>/metrics.csv`, keeping earlier rows when a run resumes.

    Unlike Lightning's CSVLogger it writes straight into the (non-empty) run directory and never
    deletes an existing file: on resume, rows from steps at or after the first newly logged step
    (work the resumed run redoes) and the stopped run's `test/` rows are dropped, the rest kept.
    Rows may hold empty cells (NaN in pandas) where a metric was not logged at that step. Once
    `attach(trainer)` is called, `step` is the number of optimizer steps done
    (`trainer.global_step`, as in results.json) rather than Lightning's 0-based batch index.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(run_dir) / METRICS_FILE
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] = ["step"]
        self._written = 0  # rows of self._rows already in the file
        self._header_written: list[str] | None = None
        self._resumed_rows: list[dict[str, Any]] | None = None
        self._trainer: Any = None
        if self.path.exists():
            with open(self.path, newline="") as f:
                self._resumed_rows = list(csv.DictReader(f))

    def attach(self, trainer: Any) -> None:
        """Take each row's `step` from `trainer.global_step`."""
        self._trainer = trainer

    @property
    def name(self) -> str:
        return "metrics_csv"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kw: Any) -> None:
        """Hyperparameters live in results.json and .hydra/config.yaml, not in the CSV."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {k: _scalar(v) for k, v in metrics.items() if k != "epoch"}
        if not row:
            return
        if self._trainer is not None:
            step = self._trainer.global_step
        step = len(self._rows) if step is None else int(step)
        if self._resumed_rows is not None:
            kept = [
                r
                for r in self._resumed_rows
                if r.get("step")
                and int(r["step"]) < step
                and not any(v for k, v in r.items() if k.startswith("test/"))
            ]
            self._rows = [*kept, *self._rows]
            for r in kept:
                self._add_columns(r)
            self._resumed_rows = None
        row["step"] = step
        self._add_columns(row)
        self._rows.append(row)

    def _add_columns(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self._columns]
        if new:
            self._columns = ["step", *sorted(set(self._columns[1:]) | set(new))]

    @rank_zero_only
    def save(self) -> None:
        if self._written == len(self._rows) and self._header_written == self._columns:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._header_written != self._columns:
            tmp = self.path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self._columns)
                writer.writeheader()
                writer.writerows(self._rows)
            os.replace(tmp, self.path)
            self._header_written = list(self._columns)
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._columns).writerows(self._rows[self._written :])
        self._written = len(self._rows)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._resumed_rows is not None and not self._rows:
            return  # resumed but logged nothing new: leave the file as it was
        self.save()
