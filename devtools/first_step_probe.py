"""Marks a `gatebench.train` job's first training step, for `python -m devtools.startup`.

The tool loads it into the job with `imports=[devtools.first_step_probe]` and names a file in
`GATEBENCH_FIRST_STEP_FILE`; when the first training batch starts, the job writes there its
wall clock (`time.time()`) and its own CPU time (user + system) so far. Nothing else changes:
`SequenceModel.on_train_batch_start` is Lightning's no-op hook, replaced by one that writes once.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from devtools.startup import FIRST_STEP_ENV
from gatebench.training.model import SequenceModel


def _mark(self: Any, batch: Any, batch_idx: int) -> None:
    path = os.environ.get(FIRST_STEP_ENV)
    if not path or Path(path).exists():
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(path).write_text(f"{time.time()!r} {usage.ru_utime + usage.ru_stime!r}\n")


SequenceModel.on_train_batch_start = _mark  # type: ignore[method-assign]
