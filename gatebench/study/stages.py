"""Run a stage's multiruns as `python -m gatebench.train -m ...` subprocesses, with progress.

A multirun whose every job already holds a final record is not launched at all; the others are
(each of their final jobs then skips itself and the cut ones resume from `last.ckpt`: the sweep
contract). The multirun's output goes to `<study dir>/study-<stage>.log`; this process prints
one line per finished job:

    study tiny: tune: jobs 5/12 done (24 already final), elapsed 1m02s, ETA 2m30s
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gatebench.study.plan import Job, Multirun, Resolved, is_final, job_dir
from gatebench.study.spec import Spec

JOB_LINE = re.compile(r"^gatebench: jobs \d+/\S+ done")
POLL_S = 30.0  # also look for new final records this often


@dataclass
class StageResult:
    name: str
    total: int
    already: int
    trained: int = 0
    failures: list[str] = field(default_factory=list)


def duration(seconds: float) -> str:
    """`45s`, `3m05s`, `2h04m` (gatebench.run.progress's format, without importing Lightning)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Stages:
    """Launches multiruns and says how far a stage is; `say` prints and logs a line."""

    def __init__(self, spec: Spec, resolved: dict[tuple[str, str], Resolved],
                 say: Callable[[str], None]) -> None:  # fmt: skip
        self.spec = spec
        self.resolved = resolved
        self.say = say
        self.known_final: set[Path] = set()
        self.lock = threading.Lock()
        self.shown: dict[str, int] = {}  # the last done count printed per stage

    def final(self, jobs: list[Job]) -> list[bool]:
        """Whether each job holds a final record (a final record stays final: read once)."""
        out = []
        for job in jobs:
            path = job_dir(self.spec, job, self.resolved[(job.cell, job.task)])
            if path not in self.known_final and is_final(path, self.spec.max_steps):
                self.known_final.add(path)
            out.append(path in self.known_final)
        return out

    def run(self, name: str, runs: list[Multirun], dry_run: bool = False) -> StageResult:
        jobs = [j for r in runs for j in r.jobs]
        done_before = sum(self.final(jobs))
        result = StageResult(name, len(jobs), done_before)
        todo = len(jobs) - done_before
        if todo == 0:
            self.say(f"{name}: {len(jobs)}/{len(jobs)} jobs already final: nothing to do")
            return result
        self.say(f"{name}: {todo} job(s) to run ({done_before} of {len(jobs)} already final), "
                 f"{len(runs)} multirun(s)")  # fmt: skip
        started = time.time()
        log_path = self.spec.dir / f"study-{name}.log"
        for multirun in runs:
            if all(self.final(multirun.jobs)):
                continue
            shown = " ".join(multirun.command[2:])
            if dry_run:
                print(f"{name}: python {shown}")
                continue
            stop = threading.Event()
            # jobs that end in other processes (submitit, SLURM) print nowhere here: poll too
            poller = threading.Thread(target=self._poll, daemon=True,
                                      args=(stop, name, jobs, done_before, started))  # fmt: skip
            with open(log_path, "a") as log:
                log.write(f"\n### {name}: python {shown}\n")
                log.flush()
                process = subprocess.Popen(multirun.command, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
                poller.start()
                assert process.stdout is not None
                for line in process.stdout:
                    log.write(line)
                    if JOB_LINE.match(line):
                        log.flush()
                        self._progress(name, jobs, done_before, started)
                code = process.wait()
            stop.set()
            poller.join()
            if code != 0:
                result.failures.append(f"{name}: a multirun exited {code} (see {log_path})")
        result.trained = sum(self.final(jobs)) - done_before
        missing = len(jobs) - done_before - result.trained
        if missing and not dry_run:
            result.failures.append(f"{name}: {missing} job(s) without a final record (see "
                                   f"{log_path}); re-run the study to resume them")
        return result

    def _poll(self, stop: threading.Event, name: str, jobs: list[Job], before: int,
              started: float) -> None:  # fmt: skip
        while not stop.wait(POLL_S):
            self._progress(name, jobs, before, started)

    def _progress(self, name: str, jobs: list[Job], before: int, started: float) -> None:
        with self.lock:
            done = sum(self.final(jobs)) - before
            if done == self.shown.get(name):
                return
            self.shown[name] = done
        todo = len(jobs) - before
        elapsed = time.time() - started
        eta = f", ETA {duration(elapsed / done * (todo - done))}" if done else ""
        self.say(f"{name}: jobs {done}/{todo} done ({before} already final), "
                 f"elapsed {duration(elapsed)}{eta}")  # fmt: skip


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
