"""The kernel cache's checksum stamp is readable by every user (issue 24): written 0600 (mkstemp's
mode), another user's process could not read it and fell back to the slow path."""

from __future__ import annotations

import stat
from pathlib import Path

from variants import native_cache


def test_the_stamp_is_readable_by_group_and_others(tmp_path: Path) -> None:
    library = tmp_path / "bptt_steps.so"
    library.write_bytes(b"\x7fELF not really a library")
    native_cache.write_stamp(library)
    mode = stat.S_IMODE(native_cache.stamp_path(library).stat().st_mode)
    assert mode & 0o044 == 0o044 and mode & 0o022 == 0  # readable by all, written by its owner
    assert native_cache.problem(library) is None  # and still a valid stamp
