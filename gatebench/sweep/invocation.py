"""One sweep invocation's private bookkeeping in a sweep directory that others may share.

Two sweeps into one `hydra.sweep.dir` at once (or a re-run while the first still runs) each
keep their job outcomes and progress tally in `<sweep_dir>/.gatebench/sweeps/<id>/`, locked by
the multirun's process while it runs (so a live sweep is told from an ended or killed one). The
id reaches the jobs through the environment (`GATEBENCH_SWEEP_ID`): the basic launcher's jobs run
in the same process, joblib's workers and SLURM jobs inherit it.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from gatebench.run.lock import RunLock
from gatebench.run.schema import SWEEP_ID_ENV, SWEEPS_DIR

LEGACY_DIR = ".gatebench"  # jobs of a sweep started without gatebench's callbacks
_lock: RunLock | None = None


def begin(sweep_dir: str | os.PathLike) -> Path:
    """Start this process's sweep invocation in `sweep_dir`: a new id, its folder, locked."""
    global _lock
    ident = f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}-{os.getpid()}"
    os.environ[SWEEP_ID_ENV] = ident
    folder = Path(sweep_dir) / SWEEPS_DIR / ident
    end()
    _lock = RunLock(folder).acquire()
    return folder


def end() -> None:
    """Release this process's sweep lock (the folder stays: its outcomes are the sweep's log)."""
    global _lock
    if _lock is not None:
        _lock.release()
        _lock = None


def folder(sweep_dir: str | os.PathLike) -> Path:
    """This invocation's bookkeeping folder (the shared legacy one without an id)."""
    ident = os.environ.get(SWEEP_ID_ENV)
    return Path(sweep_dir) / (f"{SWEEPS_DIR}/{ident}" if ident else LEGACY_DIR)
