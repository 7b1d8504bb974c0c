"""Verified entries of the compiled-kernel cache: a library is loaded only if its size and
SHA-256 match the stamp written next to it when it was built.

`ctypes.CDLL` maps a shared library into the process: a truncated or corrupt file (a full disk,
a killed copy, a bad sync of ~/.cache) can crash it with SIGBUS and no message. The stamp
(`<library>.sha256`: "<sha256> <size>") is written after the library, atomically, so a library
without a matching stamp is never trusted: it is rebuilt, or the torch-op path runs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def stamp_path(library: Path) -> Path:
    """Where `library`'s stamp lives."""
    return library.with_name(library.name + ".sha256")


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_stamp(library: Path) -> None:
    """Record `library`'s SHA-256 and size next to it (atomically)."""
    text = f"{_digest(library)} {library.stat().st_size}\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{library.name}.", suffix=".tmp", dir=library.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would send every other user to the slow path
        os.replace(tmp, stamp_path(library))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def problem(library: Path) -> str | None:
    """Why `library` must not be loaded (missing, no stamp, wrong size or checksum), or None."""
    if not library.is_file():
        return "not built"
    try:
        expected_sha, expected_size = stamp_path(library).read_text().split()
    except (OSError, ValueError):
        return "no valid checksum stamp next to it"
    size = library.stat().st_size
    if size != int(expected_size):
        return f"size {size} bytes, expected {expected_size} (truncated or overwritten)"
    if _digest(library) != expected_sha:
        return "checksum differs from the one recorded when it was built (corrupt)"
    return None
