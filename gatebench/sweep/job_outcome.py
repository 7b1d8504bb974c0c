"""Run one Hydra job and turn its outcome into an exit code (`gatebench.run.exit_codes`).

A single run exits with its code: one line on stderr and no record for bad input, a locked or
refused run directory; the code of its status otherwise. In a multirun nothing a job raises ends
the sweep: a config error or an unexpected error is recorded as a `failed` results.json (never
over a final record), and the job's code is left for `gatebench.sweep.status`, which sets the
multirun's exit code once every job ran and the report is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gatebench.config.validation import ConfigError
from gatebench.run import exit_codes, runtime

log = logging.getLogger("gatebench")


def record_failure(cfg: DictConfig, message: str) -> None:
    """Write a `failed` record for a multirun job that raised, unless its folder already holds a
    final one (a finished result is never overwritten)."""
    from gatebench.run.record import failure_record
    from gatebench.run.records import RESULTS_FILE, write_json_atomic
    from gatebench.run.resume import FINAL_STATUSES, read_record

    run_dir = Path(cfg.run_dir)
    existing = read_record(run_dir / RESULTS_FILE)
    if existing and existing.get("status") in FINAL_STATUSES:
        return
    try:
        write_json_atomic(run_dir / RESULTS_FILE, failure_record(cfg, message, run_dir.parent.name))
    except OSError as error:
        log.error("%s: could not record the failure: %s", run_dir, error)


def run_job(train: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig) -> float | None:
    """`train(cfg)` as one Hydra job; returns the final primary metric (None when there is none)."""
    from gatebench.run import termination
    from gatebench.run.lock import RunDirLocked
    from gatebench.run.resume import RunRefused

    termination.install()  # a parallel launcher's worker too (a no-op off the main thread)
    multirun, launcher = runtime.hydra_launch()
    if multirun and termination.received():  # a worker that got SIGTERM starts no new job
        from gatebench.sweep.status import write_outcome

        write_outcome(cfg, exit_codes.TERMINATED, "not run: the sweep got SIGTERM")
        return None
    record: dict[str, Any] | None = None
    try:
        record = train(cfg)
        code, message = exit_codes.for_status(record.get("status")), record.get("message")
    except termination.Terminated as stop:
        _stopped(cfg, stop, multirun, launcher)
        return None
    except RunDirLocked as error:
        code, message = exit_codes.LOCKED, str(error)
    except RunRefused as error:
        code, message = exit_codes.CONFIG, str(error)
    except ConfigError as error:
        code, message = exit_codes.CONFIG, str(error)
        if multirun:
            record_failure(cfg, f"config error: {error}")
    except Exception as error:
        if not multirun:
            sys.stderr.write(f"gatebench: error: {type(error).__name__}: {error}\n")
            sys.exit(exit_codes.FAILED)
        code, message = exit_codes.FAILED, f"{type(error).__name__}: {error}"
        log.exception("%s: failed", cfg.get("run_name"))
        record_failure(cfg, message)
    if multirun:
        from gatebench.sweep.status import write_outcome

        if code in (exit_codes.CONFIG, exit_codes.LOCKED):
            log.error("%s: %s", cfg.get("run_name"), message)
        write_outcome(cfg, code, message, record.get("status") if record else None)
    elif code in (exit_codes.CONFIG, exit_codes.LOCKED):
        sys.stderr.write(f"gatebench: error: {message}\n")
        sys.exit(code)
    else:
        exit_codes.set_pending(code)
    if not record or not isinstance(record.get("final"), dict):
        return None
    return record["final"].get(record.get("metric"))


def _stopped(
    cfg: DictConfig, stop: BaseException, multirun: bool, launcher: str | None
) -> None:
    """A job stopped by SIGTERM: no record (its checkpoint kept), one line saying so and how to
    resume, exit TERMINATED. Under the basic launcher the multirun stops with it (its next jobs
    are listed as not run); a parallel launcher's worker leaves its outcome for the sweep's end."""
    from hydra.core.hydra_config import HydraConfig

    from gatebench.run.progress import resume_command
    from gatebench.sweep.stopped import checkpoint_note, jobs_not_run, not_run_line, sweep_command

    step = getattr(stop, "step", None)
    at = f" at step {step}" if step is not None else ""
    what = f"stopped by SIGTERM{at}: no record written, {checkpoint_note(cfg.run_dir)}"
    if not multirun:
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        sys.stderr.write(f"gatebench: {what}; resume with: "
                         f"{resume_command(Path(cfg.run_dir), overrides)}\n")
        sys.exit(exit_codes.TERMINATED)
    from gatebench.sweep.status import write_outcome

    write_outcome(cfg, exit_codes.TERMINATED, what)
    log.error("%s: %s", cfg.get("run_name"), what)
    if launcher is not None and "joblib" in launcher:
        return  # the worker's next jobs are not run (see run_job); the sweep's end lists them
    hydra = HydraConfig.get()
    sweep_dir = Path(hydra.sweep.dir)
    sys.stderr.write(f"gatebench: sweep stopped by SIGTERM: job #{hydra.job.num} "
                     f"{cfg.get('run_name')} {what}; resume with: {sweep_command(sweep_dir)}\n")
    if launcher is None or "submitit" not in launcher:  # the basic launcher: the rest never ran
        sys.stderr.write(f"gatebench: {not_run_line(jobs_not_run(sweep_dir, hydra.job.num))}\n")
    sys.exit(exit_codes.TERMINATED)
