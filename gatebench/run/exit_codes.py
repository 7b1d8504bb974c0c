"""Exit codes of `python -m gatebench.train`, defined once (documented in the README).

A single run exits with the code of its outcome; a multirun exits with FAILED when any job
failed, was refused or hit a config error (after every job is recorded and the report written),
with TERMINATED when SIGTERM stopped it (at once: the jobs not run are listed).
"""

from __future__ import annotations

OK = 0  # solved or finished (or already final: nothing to do)
FAILED = 1  # the run failed (recorded as `failed`), or a multirun had a failed job
CONFIG = 2  # bad input or a request that cannot run: nothing trained, nothing recorded
DIVERGED = 3  # the loss became NaN/inf (recorded as `diverged`)
LOCKED = 4  # another process holds the run directory: try again when it has ended
TERMINATED = 143  # SIGTERM (preemption, time-out): checkpoint kept, no record; resume it (128+15)

_BY_STATUS = {"solved": OK, "finished": OK, "diverged": DIVERGED, "failed": FAILED}
_pending = OK


def for_status(status: str | None) -> int:
    """The exit code of a run that ended with `status` (FAILED for anything unknown)."""
    return _BY_STATUS.get(status or "", FAILED)


def set_pending(code: int) -> None:
    """Remember the code the process exits with once Hydra (and its callbacks) returned."""
    global _pending
    _pending = int(code)


def pending() -> int:
    """The code set by `set_pending` (OK if none)."""
    return _pending
