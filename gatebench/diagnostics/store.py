"""diagnostics.npz: every snapshot of a run in one file, written atomically beside results.json.

Arrays (S snapshots, G recorded gates, K states, T steps, Q quantiles, B sequences, P marked
inputs); strings are numpy unicode arrays, so `numpy.load(path)` reads it without pickle:

    steps (S,) labels (S,) loss (S,) quantiles (Q,)
    gate_names (G,) gate_kinds (G,) gate_mean (S,G,T) gate_quantiles (S,G,T,Q)
    saturation (S,G,T) example_gate (S,G,T) example_keep_unit (S,T)
    state_names (K,) grad_quantiles (S,K,T,Q)
    retention (S,T) retention_marked (S,P)
    marked (B,P) readout (B,) keep_gate () cell ()
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIAGNOSTICS_FILE = "diagnostics.npz"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def snapshot_arrays(
    snapshots: Sequence[Any], marked: np.ndarray, readout: np.ndarray, cell: Any
) -> dict[str, np.ndarray]:
    """The npz arrays of `snapshots` (gatebench.diagnostics.snapshot.Snapshot) of one run."""
    if not snapshots:
        raise ValueError("no diagnostics snapshots to write")
    first = snapshots[0]

    def stack(attr: str) -> np.ndarray:
        return np.stack([np.asarray(getattr(s, attr), dtype=np.float64) for s in snapshots])

    return {
        "steps": np.array([s.step for s in snapshots], dtype=np.int64),
        "labels": np.array([s.label for s in snapshots], dtype=str),
        "loss": np.array([s.loss for s in snapshots], dtype=np.float64),
        "quantiles": np.array(QUANTILES, dtype=np.float64),
        "gate_names": np.array(first.gate_names, dtype=str).reshape(-1),
        "gate_kinds": np.array(first.gate_kinds, dtype=str).reshape(-1),
        "gate_mean": stack("gate_mean"),
        "gate_quantiles": stack("gate_quantiles"),
        "saturation": stack("saturation"),
        "example_gate": stack("example_gate"),
        "example_keep_unit": stack("example_keep_unit"),
        "state_names": np.array(first.state_names, dtype=str),
        "grad_quantiles": stack("grad_quantiles"),
        "retention": stack("retention"),
        "retention_marked": stack("retention_marked"),
        "marked": np.asarray(marked, dtype=np.int64),
        "readout": np.asarray(readout, dtype=np.int64),
        "keep_gate": np.array(cell.keep_gate or "", dtype=str),
        "cell": np.array(cell.name, dtype=str),
    }


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write `arrays` to `path` (npz, compressed) via a temp file and `os.replace`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_diagnostics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of a diagnostics.npz (no pickle); ValueError naming the path if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as error:  # noqa: BLE001 - restated as one line naming the file
        raise ValueError(f"cannot read diagnostics file {path}: {error}") from error
