"""Hydra callback: a multirun says how far it is as its jobs end.

    gatebench: jobs 12/90 done (10 solved, 1 diverged, 1 failed), elapsed 9m12s, ETA 59m48s

One line per finished job, printed by the process that ran it (the main process under the basic
launcher, a worker under joblib, the job's log under submitit) and appended to
`<sweep_dir>/progress.log` (`tail -f` it for a SLURM sweep). The tally lives in this sweep
invocation's own folder (`gatebench.sweep.invocation`: two sweeps into one directory keep two
tallies), updated under a file lock, so the counts rise by one per job whatever process ends it.
The ETA is the elapsed time per finished job times the jobs left (so it counts parallel
jobs). A re-run of a sweep starts a new tally; jobs it skips as done still end, and count.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gatebench.run.progress_text import duration
from gatebench.run.schema import RESULTS_FILE, STATUSES
from gatebench.sweep import invocation

STATE_FILE = ".progress.json"
LOCK_FILE = ".progress.lock"
LOG_FILE = "progress.log"


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The overrides of each job, in job-number order, that the basic sweeper makes of
    `hydra.sweeper.params` and the command line's overrides (None where they cannot be parsed
    here, e.g. a glob that needs the config tree)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(OmegaConf.select(config, "hydra.overrides.task", default=None) or [])
    try:
        overrides = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # noqa: BLE001 - no total: the lines then say "jobs N done", no ETA
        return None
    return [list(job) for batch in batches for job in batch]


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep makes (see `job_overrides`)."""
    jobs = job_overrides(config)
    return None if jobs is None else len(jobs)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def progress_line(state: dict[str, Any], now: float) -> str:
    """`jobs 12/90 done (10 solved, 1 diverged, 1 failed), elapsed 9m12s, ETA 59m48s`."""
    done, total, counts = state["done"], state["total"], state["counts"]
    order = [*STATUSES, *sorted(set(counts) - set(STATUSES))]
    tally = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
    elapsed = now - state["started"]
    text = f"jobs {done}/{total if total is not None else '?'} done ({tally}), "
    text += f"elapsed {duration(elapsed)}"
    if total is not None and done:
        text += f", ETA {duration(elapsed / done * max(total - done, 0))}"
    return text


def _job_status(config: DictConfig, job_return: JobReturn) -> str:
    """The job's record status as its outcome says (its run may live in another folder: a
    re-ordered re-run), else its folder's results.json, else failed/missing."""
    from gatebench.sweep.status import outcome_path

    run_dir = OmegaConf.select(config, "hydra.runtime.output_dir", default=None)
    sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
    for path, key in ((outcome_path(sweep_dir, Path(run_dir).name), "status"),
                      (Path(run_dir) / RESULTS_FILE, "status")) if run_dir and sweep_dir else ():
        try:
            status = json.loads(path.read_text()).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if status:
            return str(status)
    return "failed" if job_return.status == JobStatus.FAILED else "missing"


class SweepProgress(Callback):
    """Start a sweep's tally, add each finished job to it (one line each), and end with a line
    counted from the run records themselves."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        own = invocation.folder(sweep_dir)
        state = {"total": count_jobs(config), "started": time.time(), "done": 0, "counts": {}}
        with _locked(own):
            (own / STATE_FILE).write_text(json.dumps(state))
        total = state["total"] if state["total"] is not None else "?"
        print(f"gatebench: sweep of {total} jobs into {sweep_dir}/", flush=True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        if not sweep_dir or not (invocation.folder(sweep_dir) / STATE_FILE).is_file():
            return  # a single run, or a sweep started without this callback
        sweep_dir, own = Path(sweep_dir), invocation.folder(sweep_dir)
        status = _job_status(config, job_return)
        with _locked(own):
            state = json.loads((own / STATE_FILE).read_text())
            state["done"] += 1
            state["counts"][status] = state["counts"].get(status, 0) + 1
            (own / STATE_FILE).write_text(json.dumps(state))
            line = progress_line(state, time.time())
            with open(sweep_dir / LOG_FILE, "a") as log_file:
                log_file.write(line + "\n")
        print(f"gatebench: {line}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from gatebench.sweep.hydra_callbacks import count_results
        from gatebench.sweep.status import read_outcomes

        sweep_dir = Path(config.hydra.sweep.dir)
        path = invocation.folder(sweep_dir) / STATE_FILE
        if not path.is_file():
            return
        state = json.loads(path.read_text())
        # this sweep's jobs only: earlier sweeps into the same directory are not its tally
        own = {str(outcome.get("job")) for outcome in read_outcomes(sweep_dir)}
        counts = count_results(sweep_dir, own)
        final = {**state, "done": sum(counts.values()), "counts": counts}
        line = progress_line(final, time.time()).split(", ETA")[0]
        with open(sweep_dir / LOG_FILE, "a") as log_file:
            log_file.write(f"sweep finished: {line}\n")
        print(f"gatebench: sweep finished: {line} (from the run records)", flush=True)
