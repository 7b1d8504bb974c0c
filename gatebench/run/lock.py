"""An OS file lock on a run directory: one process trains in it at a time.

`fcntl.flock` on `<run_dir>/.gatebench.lock`; the kernel releases it when the process exits,
however it exits (SIGKILL included), so a stale lock file never blocks a resume. The file holds
the holder's pid and host, which a refused process names. (flock is local to a machine; on NFS
it is emulated with POSIX locks by Linux >= 2.6.12.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import warnings
from pathlib import Path
from typing import IO

LOCK_FILE = ".gatebench.lock"


class RunDirLocked(RuntimeError):
    """Another process holds the run directory's lock; the message names its pid and host."""


def holder(run_dir: str | os.PathLike) -> str | None:
    """`pid N on host H` of the process holding `run_dir`'s lock, or None when it is free."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return None
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip() or "another process"
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


class RunLock:
    """`with RunLock(run_dir):` holds the directory's lock, or raises RunDirLocked at once."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        f = open(self.run_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise RunDirLocked(
                f"run_dir={str(self.run_dir)!r} is in use by {who}: wait for it to end "
                "(or stop it), then resume with ckpt_path=last"
            ) from None
        except OSError as error:  # a filesystem without locks (some network mounts)
            warnings.warn(
                f"run_dir={str(self.run_dir)!r}: no file lock on this filesystem ({error}); "
                "nothing stops a second process from training in it",
                RuntimeWarning,
                stacklevel=2,
            )
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on host {socket.gethostname()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # closing the file releases the lock anyway
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
