"""Per-step metrics as one wide CSV in the run directory (`step` + one column per metric)."""

from __future__ import annotations

import csv
import logging
import os
from argparse import Namespace
from collections import Counter
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

from gatebench.config.validation import ConfigError

METRICS_FILE = "metrics.csv"
log = logging.getLogger("gatebench")


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _kept(row: dict[str, Any], resume_step: int) -> bool:
    """A whole row (every field present: not a line torn by a kill or a full disk) of a step the
    checkpoint covers, and not a `test/` row (the resumed run tests again at its end)."""
    if None in row or any(v is None for v in row.values()):
        return False
    try:
        step = int(row["step"])
    except (KeyError, TypeError, ValueError):
        return False
    return step <= resume_step and not any(v for k, v in row.items() if k.startswith("test/"))


def missing_steps(steps: list[int], resume_step: int) -> tuple[int, int] | None:
    """The widest run of steps up to `resume_step` with no row, as (first, last), when it is
    more than twice the usual spacing of the rows (a file cut short or cut in the middle);
    None when the rows cover the steps."""
    ordered = sorted(set(steps))
    if len(ordered) < 2:
        return None
    spacing = Counter(b - a for a, b in zip(ordered, ordered[1:], strict=False)).most_common(1)
    usual = spacing[0][0]
    ends = [*ordered, resume_step + 1]
    widest = max(zip(ends, ends[1:], strict=False), key=lambda pair: pair[1] - pair[0])
    if widest[1] - widest[0] > 2 * usual:
        return widest[0] + 1, widest[1] - 1
    return None


class MetricsCSVLogger(Logger):
    """Write `<run_dir>/metrics.csv`, keeping the checkpointed rows when a run resumes.

    Unlike Lightning's CSVLogger it writes straight into the (non-empty) run directory. A fresh
    run (`resume_step=None`) replaces any earlier file at its first write; a run resumed from a
    checkpoint at step N keeps the earlier rows of steps <= N (not `test/` rows, not a torn last
    line) and appends its own after them, so every step appears exactly once. Rows may hold empty
    cells (NaN in pandas) where a metric was not logged at that step. Once `attach(trainer)` is
    called, `step` is the number of optimizer steps done (`trainer.global_step`, as in
    results.json) rather than Lightning's 0-based batch index.
    """

    def __init__(self, run_dir: str | os.PathLike, resume_step: int | None = None) -> None:
        super().__init__()
        self.path = Path(run_dir) / METRICS_FILE
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] = ["step"]
        self._written = 0  # rows of self._rows already in the file
        self._header_written: list[str] | None = None
        self._logged = False  # a row was logged by this process
        self._trainer: Any = None
        if resume_step is not None and self.path.exists():
            try:
                with open(self.path, newline="") as f:
                    for row in csv.DictReader(f):
                        if _kept(row, resume_step):
                            self._add_columns(row)
                            self._rows.append(row)
            except (OSError, UnicodeDecodeError, csv.Error) as error:
                reason = (str(error).strip().splitlines() or [""])[0][:120]
                raise ConfigError(
                    f"{self.path}: unreadable ({type(error).__name__}: {reason}), so the run "
                    "cannot resume with its curve: move the file away to resume without its "
                    "earlier rows, or start afresh in a new run directory"
                ) from None
            gap = missing_steps([int(r["step"]) for r in self._rows], resume_step)
            if gap:
                log.warning(
                    "%s: rows of steps %d-%d are missing (the file was cut); the run resumes "
                    "from its checkpoint at step %d and its curve keeps that gap",
                    self.path, gap[0], gap[1], resume_step,
                )

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
        self._logged = True
        row["step"] = step
        self._add_columns(row)
        self._rows.append(row)

    def _add_columns(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self._columns]
        if new:
            self._columns = ["step", *sorted(set(self._columns[1:]) | set(new))]

    @rank_zero_only
    def save(self) -> None:
        if not self._logged:
            return  # nothing new: an earlier file stays as it was until this process logs
        if self._written == len(self._rows) and self._header_written == self._columns:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._header_written != self._columns:
            tmp = self.path.with_suffix(".csv.tmp")
            try:
                with open(tmp, "w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=self._columns)
                    writer.writeheader()
                    writer.writerows(self._rows)
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._header_written = list(self._columns)
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._columns).writerows(self._rows[self._written :])
        self._written = len(self._rows)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()
