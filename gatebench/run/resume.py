"""How a run starts in its directory: fresh, resumed from its checkpoint, or not at all because
the directory already holds its final record (a re-run sweep, a requeued job).

Rules (README, "Resume and re-run"): a finished result is never rewritten; a directory holding
another config's run is refused with the key that differs; a single run with `ckpt_path=null`
never overwrites a run already in its directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gatebench.run.schema import CHECKPOINT_DIR, RESULTS_FILE

# A record with one of these statuses is a result: a re-run with the same config leaves it be.
FINAL_STATUSES = ("solved", "finished", "diverged")
# Keys that may change between a run and its resume: where and how it runs, how far it goes.
MAY_DIFFER = ("ckpt_path", "threads", "run_dir", "logger", "trainer.max_steps")
HISTORY_KEY = "RunHistory"  # the checkpoint's state key of gatebench.run.history.RunHistory


class RunRefused(RuntimeError):
    """The run directory holds another run this config must not touch (nothing is written)."""


@dataclass
class StartPlan:
    """`final_record`: the run is already final, nothing to do. Otherwise train, resuming from
    `resume_from` (a checkpoint at step `resume_step`) or afresh when it is None."""

    final_record: dict[str, Any] | None = None
    resume_from: str | None = None
    resume_step: int | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)


def read_record(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing or not a readable object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _may_differ(key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if any(key == k or key.startswith(k + ".") for k in MAY_DIFFER):
        return True
    # total_steps has no effect on a constant schedule (it follows trainer.max_steps by default)
    constant = old.get("scheduler.name") == new.get("scheduler.name") == "constant"
    return key == "scheduler.total_steps" and constant


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first (sorted) key whose value differs between two configs, with both values. A key
    one config lacks and the other sets to null is no difference: a key added to the config
    later with a null default (off) leaves the runs recorded before it the same runs."""
    a, b = _flatten(old), _flatten(new)
    for key in sorted(set(a) | set(b)):
        if not _may_differ(key, a, b) and a.get(key) != b.get(key):
            return key, a.get(key, "<unset>"), b.get(key, "<unset>")
    return None


def plan_start(cfg: DictConfig, config: dict[str, Any], multirun: bool) -> StartPlan:
    """Decide how this run starts in `cfg.run_dir`; RunRefused or CheckpointError when it must
    not or cannot. In a multirun a job that finds its earlier run resumes it without
    `ckpt_path=last` (a re-run sweep)."""
    from gatebench.run.checkpoints import load_checkpoint

    run_dir = Path(cfg.run_dir)
    record = read_record(run_dir / RESULTS_FILE)
    last = run_dir / CHECKPOINT_DIR / "last.ckpt"
    explicit = cfg.get("ckpt_path") not in (None, "last")
    held = [p.name for p in (run_dir / RESULTS_FILE, last) if p.is_file()]
    if held and cfg.get("ckpt_path") is None and not multirun:
        raise RunRefused(
            f"run_dir={str(run_dir)!r} already holds a run ({', '.join(held)}): resume it with "
            "ckpt_path=last, or choose a new hydra.run.dir"
        )
    if record is not None:
        _refuse_changed(record.get("config"), config, run_dir)
        if _is_final(record, cfg):
            return StartPlan(final_record=record)
    path = Path(cfg.ckpt_path) if explicit else (last if last.is_file() else None)
    if path is None:
        return StartPlan()
    checkpoint = load_checkpoint(path)
    history = checkpoint.get("callbacks", {}).get(HISTORY_KEY, {})
    if record is None and not explicit:
        _refuse_changed(history.get("config"), config, run_dir)
    return StartPlan(
        resume_from=str(path),
        resume_step=int(checkpoint["global_step"]),
        segments=list(history.get("segments", [])),
    )


def _run_config(run_dir: Path) -> dict[str, Any] | None:
    """The config of the run held in `run_dir` (results.json, else last.ckpt), or None."""
    from gatebench.run.checkpoints import CheckpointError, load_checkpoint

    record = read_record(run_dir / RESULTS_FILE)
    if record is not None:
        return record.get("config") if isinstance(record.get("config"), dict) else None
    last = run_dir / CHECKPOINT_DIR / "last.ckpt"
    if not last.is_file():
        return None
    try:
        history = load_checkpoint(last).get("callbacks", {}).get(HISTORY_KEY, {})
    except CheckpointError:
        return None
    return history.get("config") if isinstance(history.get("config"), dict) else None


def find_same_run(run_dir: Path, config: dict[str, Any]) -> Path | None:
    """In a sweep directory: the other job folder whose run has this job's `config`, when
    `run_dir` (this job's folder) holds no run of it. A job's identity is its config, not its
    number: a sweep re-run with its arguments in another order gives its jobs other numbers and
    so other folders. Only folders whose name holds the job's `run_name` (made of its variant,
    task, length and seed) are read, so a sweep of N jobs reads a few records per job, not N."""
    own = _run_config(run_dir)
    if own is not None and first_difference(own, config) is None:
        return None
    name = str(config.get("run_name") or "")
    for sibling in sorted(run_dir.parent.iterdir()):
        if sibling == run_dir or sibling.name.startswith(".") or not sibling.is_dir():
            continue
        if name not in sibling.name:
            continue
        found = _run_config(sibling)
        if found is not None and first_difference(found, config) is None:
            return sibling
    return None


def _refuse_changed(previous: Any, config: dict[str, Any], run_dir: Path) -> None:
    """RunRefused when the run already in `run_dir` had another config."""
    if not isinstance(previous, dict):
        return
    differs = first_difference(previous, config)
    if differs:
        key, old, new = differs
        raise RunRefused(
            f"{key}={new!r} differs from the run already in {str(run_dir)!r} ({key}={old!r}):"
            " use a new hydra.sweep.dir (or hydra.run.dir), or delete that run"
        )


def _is_final(record: dict[str, Any], cfg: DictConfig) -> bool:
    """A final status, and a `finished` run went as far as `trainer.max_steps` asks or was
    stopped by the plateau rule (more steps would not be taken: the rule's state is restored)."""
    status = record.get("status")
    if status not in FINAL_STATUSES:
        return False
    if record.get("stopped_by") == "plateau":
        return True
    steps = record.get("steps")
    return status != "finished" or (isinstance(steps, int) and steps >= cfg.trainer.max_steps)
