"""Run records on disk: the atomic write of results.json and the run's provenance (versions, git).

The schema itself lives in `gatebench.run.schema`."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from gatebench.run.schema import (  # noqa: F401 - re-exported: the runner's one import
    EXTRA_KEYS,
    RECORD_KEYS,
    RESULTS_FILE,
    SCHEMA_VERSION,
    STATUSES,
    check_record,
    empty_record,
)

_PACKAGES = ("torch", "pytorch_lightning", "hydra-core", "omegaconf", "wandb", "gatebench")


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null (JSON has no NaN); tensors and numpy scalars become floats."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under the usual 022); a temp
    file from `mkstemp` is 0600 and is given this mode before it replaces the target."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_json_atomic(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write `data` as JSON to `path` via a temp file in the same directory and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(data), f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temp(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed process left in `run_dir` (`.<name>.*.tmp` of the atomic
    writes, `metrics.csv.tmp`); call it only while holding the run directory's lock, when no
    live process can be writing them. Returns the files removed."""
    run_dir = Path(run_dir)
    stale = [*run_dir.glob(".*.tmp"), *(run_dir / "checkpoints").glob(".*.tmp"),
             *run_dir.glob("metrics.csv.tmp")]  # fmt: skip
    removed = []
    for path in stale:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def package_versions() -> dict[str, str | None]:
    """Python and the versions of the packages a run depends on (None where not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name.replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name.replace("-", "_")] = None
    return versions


def git_commit(directory: str | os.PathLike | None = None) -> str | None:
    """The git commit of the source tree (`<sha>-dirty` with uncommitted changes), or None."""
    directory = Path(directory) if directory else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def new_record(**fields: Any) -> dict[str, Any]:
    """A results.json record with every schema key present (null/{} where not yet known)."""
    record = empty_record()
    record["versions"] = package_versions()
    record["git_commit"] = git_commit()
    unknown = set(fields) - set(RECORD_KEYS) - set(EXTRA_KEYS)
    if unknown:
        raise ValueError(f"new_record: unknown field(s) {sorted(unknown)}; expected schema keys")
    record.update(fields)
    return record
