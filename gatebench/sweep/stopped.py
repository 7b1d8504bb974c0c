"""What a job stopped by SIGTERM says: where its checkpoint is, how to resume, and (a multirun
under the basic launcher, which then stops at once) which jobs did not run."""

from __future__ import annotations

import shlex
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gatebench.run.progress import hydra_value
from gatebench.run.schema import CHECKPOINT_DIR

MULTIRUN_FILE = "multirun.yaml"  # Hydra's sweep config, saved before the first job runs
LISTED = 10  # jobs named in the "did not run" line; the rest are counted


def checkpoint_note(run_dir: str | Path) -> str:
    """`checkpoint <path> (step N) kept`, or that there is none (a resume then starts afresh)."""
    from gatebench.run.checkpoints import CheckpointError, load_checkpoint

    path = Path(run_dir) / CHECKPOINT_DIR / "last.ckpt"
    if not path.is_file():
        return "no checkpoint yet (a resume starts it afresh)"
    try:
        step = load_checkpoint(path)["global_step"]
    except CheckpointError:
        return f"checkpoint {path} unreadable"
    return f"checkpoint {path} (step {step}) kept"


def _sweep_config(sweep_dir: Path) -> DictConfig | None:
    try:
        config = OmegaConf.load(sweep_dir / MULTIRUN_FILE)
    except Exception:  # noqa: BLE001 - no sweep config: the lines name no jobs and no command
        return None
    return config if isinstance(config, DictConfig) else None


def sweep_command(sweep_dir: Path) -> str:
    """The sweep's command, with its sweep directory fixed (a default `multirun/<now>` would
    start a new sweep)."""
    config = _sweep_config(sweep_dir)
    overrides = [str(o) for o in (OmegaConf.select(config, "hydra.overrides.task", default=None)
                                  or [])] if config is not None else []
    overrides = [o for o in overrides if not o.startswith("hydra.sweep.dir=")]
    args = ["-m", *overrides, f"hydra.sweep.dir={hydra_value(str(sweep_dir))}"]
    return "python -m gatebench.train " + " ".join(shlex.quote(a) for a in args)


def jobs_not_run(sweep_dir: Path, num: int) -> list[str]:
    """`#<n> <overrides>` of every job after job `num` (the basic launcher runs them in order),
    each with the overrides that tell it from the others."""
    from gatebench.sweep.progress import job_overrides

    config = _sweep_config(sweep_dir)
    jobs = (job_overrides(config) if config is not None else None) or []
    common = set.intersection(*(set(job) for job in jobs)) if len(jobs) > 1 else set()
    return [f"#{n} {' '.join(o for o in job if o not in common)}"
            for n, job in enumerate(jobs) if n > num]


def not_run_line(jobs: list[str]) -> str:
    """`jobs not run (3): #2 seed=2, #3 ..., and 1 more`."""
    shown = ", ".join(jobs[:LISTED])
    more = f", and {len(jobs) - LISTED} more" if len(jobs) > LISTED else ""
    return f"jobs not run ({len(jobs)}): {shown}{more}"
