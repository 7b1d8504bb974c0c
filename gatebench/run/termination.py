"""SIGTERM ends a run as unfinished: its checkpoint kept (saved at the step it stopped), no
record written, a non-zero exit (`exit_codes.TERMINATED`).

SLURM sends SIGTERM on preemption and at a time-out; Lightning's own handler only raises
`SIGTERMException` (a `SystemExit` with code 0) at the end of a training batch, so a preempted job
would look like a success. Here the signal sets a flag; inside a Trainer call (`deferred()`)
Lightning stops at the next batch end (a consistent state to checkpoint), anywhere else
`Terminated` is raised at once. `gatebench.sweep.job_outcome` turns it into the exit code and one
line saying how to resume.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_received = False
_deferred = 0


class Terminated(BaseException):
    """The process received SIGTERM. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` (which records a run as `failed`) catches it."""

    def __init__(self, step: int | None = None) -> None:
        super().__init__("SIGTERM" if step is None else f"SIGTERM at step {step}")
        self.step = step


def _handler(signum: int, frame: Any) -> None:
    global _received
    _received = True
    if _deferred == 0:
        raise Terminated


def install() -> None:
    """Handle SIGTERM in this process (main thread only: elsewhere Python cannot set handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handler)


def received() -> bool:
    """Whether this process has received SIGTERM."""
    return _received


def reset() -> None:
    """Forget a received SIGTERM (tests)."""
    global _received
    _received = False


def is_termination(error: BaseException) -> bool:
    """`Terminated` or Lightning's `SIGTERMException`."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    return isinstance(error, Terminated | SIGTERMException)


@contextmanager
def deferred() -> Iterator[None]:
    """Run a Trainer call: a SIGTERM inside it stops it where Lightning checks (a batch end);
    `Terminated` is raised when the call returns or raises."""
    global _deferred
    _deferred += 1
    try:
        yield
    except BaseException as error:
        if is_termination(error):
            raise Terminated from None
        raise
    finally:
        _deferred -= 1
    if _received:
        raise Terminated
