"""Runtime policy of one run: where it was launched from, its torch threads, quiet Lightning, and
which checkpoint it resumes from."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gatebench.config.validation import ConfigError
from gatebench.run.schema import CHECKPOINT_DIR

# Lightning advice that does not apply here: data is generated in-process (no workers), the run
# directory already holds Hydra's files, and steps (not epochs) drive training.
_QUIET_WARNINGS = (
    r".*does not have many workers.*",
    r".*exists and is not empty.*",
    r".*smaller than the logging interval.*",
    r".*is set, but there is no last checkpoint available.*",
    r".*isinstance\(treespec, LeafSpec\).*",
)


def hydra_launch() -> tuple[bool, str | None]:
    """(is this job part of a multirun, the launcher's _target_) -- (False, None) outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return False, None
    hydra_cfg = HydraConfig.get()
    target = OmegaConf.select(hydra_cfg, "launcher._target_", default=None)
    return hydra_cfg.mode == RunMode.MULTIRUN, target


def resolve_threads(threads: int | None, multirun: bool, launcher: str | None) -> int | None:
    """Torch threads for this job: `threads` if set; 1 when a launcher runs jobs side by side on
    this machine (joblib, submitit local), since many small matmuls on a few shared cores run
    slower with more threads; otherwise None (keep torch's default)."""
    if threads is not None:
        return int(threads)
    return 1 if multirun and _side_by_side(launcher) else None


def _side_by_side(launcher: str | None) -> bool:
    return launcher is not None and ("joblib" in launcher or "LocalLauncher" in launcher)


def local_parallel() -> bool:
    """Whether this job is one of a multirun whose launcher runs jobs side by side on this
    machine (joblib, submitit local)."""
    multirun, launcher = hydra_launch()
    return multirun and _side_by_side(launcher)


def quiet_lightning() -> None:
    """Keep Lightning's banners and the warnings above out of the run's log."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def checkpoint_path(cfg: DictConfig) -> str | None:
    """`ckpt_path` as Lightning takes it: None (fresh), "last" (<run_dir>/checkpoints/last.ckpt,
    a fresh start if none) or an existing file; anything else is a ConfigError."""
    path = cfg.get("ckpt_path")
    if path is None or path == "last":
        return path
    if not Path(path).is_file():
        raise ConfigError(f"ckpt_path={path!r} is invalid: expected null, 'last' or a file")
    return str(path)


def resumes(cfg: DictConfig) -> bool:
    """Whether the run continues from a checkpoint (`ckpt_path` a file, or `last` that exists)."""
    path = checkpoint_path(cfg)
    if path == "last":
        return (Path(cfg.run_dir) / CHECKPOINT_DIR / "last.ckpt").is_file()
    return path is not None
