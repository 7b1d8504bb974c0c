"""A run's history across processes: its config and the wall-clock segment of every process
that trained it, carried in each checkpoint so a resumed run sums all of them."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pytorch_lightning as pl

from gatebench.run.record import utc_now


def total_wall_time_s(segments: list[dict[str, Any]]) -> float:
    """The summed wall time of `segments` (pass the very list a record keeps, so the total and
    its parts come from one clock reading)."""
    return round(sum(float(s.get("wall_time_s") or 0.0) for s in segments), 3)


class RunHistory(pl.Callback):
    """Checkpoint state `{"config": ..., "segments": [...]}`; a segment is one process's
    `{pid, host, started_at, ended_at, steps: [first, last], wall_time_s}`."""

    def __init__(self, config: dict[str, Any], started: float, start_step: int = 0) -> None:
        self.config = config
        self.previous: list[dict[str, Any]] = []
        self._started = started  # time.perf_counter() at the start of this process's run
        self._started_at = utc_now()
        self._start_step = start_step
        self._trainer: Any = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def current(self, step: int | None = None) -> dict[str, Any]:
        """This process's segment up to now."""
        if step is None:
            step = self._trainer.global_step if self._trainer is not None else self._start_step
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self._started_at,
            "ended_at": utc_now(),
            "steps": [self._start_step, int(step)],
            "wall_time_s": round(time.perf_counter() - self._started, 3),
        }

    def segments(self, step: int | None = None) -> list[dict[str, Any]]:
        """Every process's segment, this one last."""
        return [*self.previous, self.current(step)]

    def state_dict(self) -> dict[str, Any]:
        return {"config": self.config, "segments": self.segments()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.previous = [dict(s) for s in state_dict.get("segments", [])]
