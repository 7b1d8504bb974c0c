"""A sweep never rewrites committed files: Hydra rewrites `multirun.yaml` and every job's
`.hydra/` at each run, and the report its tables and plots, so a sweep directory holding files
tracked by git (a committed study under `results/`) is refused before anything is written,
unless GATEBENCH_WRITE_TRACKED=1 (regenerating a committed study on purpose)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gatebench.config.validation import ConfigError

ALLOW_ENV = "GATEBENCH_WRITE_TRACKED"


def tracked_files(directory: str | os.PathLike) -> int:
    """How many files under `directory` git tracks (0 outside a git work tree or without git)."""
    path = Path(directory).resolve()
    probe = next((p for p in (path, *path.parents) if p.is_dir()), None)
    if probe is None:
        return 0
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", str(path)], cwd=probe,
                             capture_output=True, timeout=30, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return 0
    return len([name for name in out.stdout.split(b"\0") if name])


def refuse_tracked(sweep_dir: str | os.PathLike) -> None:
    """ConfigError naming `sweep_dir` when it holds committed files (see the module)."""
    if os.environ.get(ALLOW_ENV) == "1":
        return
    count = tracked_files(sweep_dir)
    if count:
        raise ConfigError(
            f"hydra.sweep.dir={str(sweep_dir)!r} holds {count} files committed to git (a "
            "committed study): a sweep would rewrite them; write elsewhere (e.g. "
            f"hydra.sweep.dir=outputs/{Path(sweep_dir).name}) or set {ALLOW_ENV}=1 to "
            "regenerate it"
        )
