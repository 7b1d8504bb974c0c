"""A sweep never rewrites committed files behind its user's back: Hydra rewrites
`multirun.yaml` and every job's `.hydra/` at each run, and the report its tables and plots, so a
sweep whose directory comes from a config default (an experiment's `hydra.sweep.dir`, e.g. a
committed study under `results/`) and holds files tracked by git is refused before anything is
written. Naming the directory on the command line (`hydra.sweep.dir=...`: a study driver
resuming its own study, a maintainer regenerating one) or GATEBENCH_WRITE_TRACKED=1 says the
writes are meant."""

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


def refuse_tracked(sweep_dir: str | os.PathLike, overrides: list[str] | None = None) -> None:
    """ConfigError naming `sweep_dir` when it holds committed files and was not named in the
    command line's `overrides` (see the module)."""
    if os.environ.get(ALLOW_ENV) == "1":
        return
    if any(o.lstrip("+~").startswith("hydra.sweep.dir=") for o in overrides or []):
        return
    count = tracked_files(sweep_dir)
    if count:
        raise ConfigError(
            f"hydra.sweep.dir={str(sweep_dir)!r} (the config's default) holds {count} files "
            "committed to git: a sweep would rewrite them; write elsewhere (e.g. "
            f"hydra.sweep.dir=outputs/{Path(sweep_dir).name}), or name this directory on the "
            "command line to rewrite it on purpose"
        )
