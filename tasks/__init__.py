"""gatebench tasks: seeded synthetic long-range problems with their trivial baselines.

`build(name, **params)` gives a `Task`; `names()` lists them; `TaskDataModule` serves a task's
train/val/test batches to Lightning. See docs/contracts.md (tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks import (  # noqa: F401
    adding,
    continual_adding,
    copy_memory,
    cycle_navigation,
    modular_arithmetic,
    mqar,
    multiplication,
    parity,
    s3_word,
    selective_copy,
    temporal_order,
)
from tasks.base import Batch, Task, build, names

if TYPE_CHECKING:
    from tasks.datamodule import TaskDataModule

__all__ = ["Batch", "Task", "TaskDataModule", "build", "names"]


def __getattr__(attr: str) -> Any:
    # The DataModule imports pytorch_lightning (about a second): load it on first use only.
    if attr == "TaskDataModule":
        from tasks.datamodule import TaskDataModule

        return TaskDataModule
    raise AttributeError(f"module 'tasks' has no attribute {attr!r}")
