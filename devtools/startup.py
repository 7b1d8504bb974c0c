"""Start-up cost of a training job: wall and CPU seconds of `gatebench.train` running one step.

    python -m devtools.startup [--repeats 3] [--imports MODULE] [--importtime] [OVERRIDE ...]

Runs ``python -m gatebench.train`` with one training step and no test (so nearly all of its
time is start-up: imports, Hydra, building the model and the Trainer, the initial diagnostics and
the step-0 validation every fresh run does; then the step itself and a last validation)
``--repeats`` times, and prints each run's wall time and its CPU time (user + system, from
the child's rusage), both for the whole job and up to the start of its first training step
(`devtools.first_step_probe`, loaded into the job, writes its wall clock and CPU time there;
the wall time counts from just before the process is started). On a shared machine the wall
time grows with the load and the CPU time much less: report both with the load.
``--imports`` adds modules the job imports first (``imports=[...]``), e.g. to measure what one
module costs. ``--importtime`` also prints the
slowest imports of the last run (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ONE_STEP = ("trainer.max_steps=1", "test=false", "threads=1")
PROBE = "devtools.first_step_probe"
FIRST_STEP_ENV = "GATEBENCH_FIRST_STEP_FILE"  # where the probe writes its mark


@dataclass
class Timing:
    """One job: wall and CPU seconds in all, and up to the start of its first training step."""

    wall: float
    cpu: float
    first_step_wall: float
    first_step_cpu: float


def with_probe(overrides: Sequence[str]) -> list[str]:
    """`overrides` with `devtools.first_step_probe` added to the job's `imports`."""
    kept, modules = [], [PROBE]
    for item in overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+") == "imports":
            modules = [m.strip() for m in value.strip("[]").split(",") if m.strip()] + modules
        else:
            kept.append(item)
    return [*kept, "imports=[" + ",".join(modules) + "]"]


def one_run(overrides: Sequence[str], importtime: bool) -> tuple[Timing, str]:
    """The timing and the stderr of one job."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "first_step.txt"
        command = [sys.executable, *(["-X", "importtime"] if importtime else []),
                   "-m", "gatebench.train", *ONE_STEP, *with_probe(overrides),
                   f"hydra.run.dir={tmp}/run"]
        env = {**os.environ, "PYTHONPATH": str(REPO), FIRST_STEP_ENV: str(mark)}
        start, start_clock = time.perf_counter(), time.time()
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"gatebench.train failed: {done.stderr[-2000:]}")
        if not mark.is_file():
            raise RuntimeError("the job ran no training step (no first-step mark)")
        clock, cpu_then = (float(v) for v in mark.read_text().split())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu, clock - start_clock, cpu_then), done.stderr


def slowest_imports(stderr: str, n: int = 15) -> list[tuple[int, str]]:
    """The `n` largest cumulative import times (microseconds, module) of ``-X importtime``."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:n]


def main(argv: Sequence[str] | None = None) -> list[Timing]:
    parser = argparse.ArgumentParser(prog="python -m devtools.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imports", action="append", default=[], metavar="MODULE",
                        help="a module the job imports first (repeatable)")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the job")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    overrides = list(args.overrides)
    if args.imports:
        overrides.append("imports=[" + ",".join(args.imports) + "]")
    load = os.getloadavg()[0]
    print(f"one-step gatebench.train job, {args.repeats} run(s); load average {load:.2f}; "
          f"overrides: {' '.join(overrides) or '(none)'}", flush=True)
    results: list[Timing] = []
    stderr = ""
    for k in range(args.repeats):
        timing, stderr = one_run(overrides, args.importtime and k == args.repeats - 1)
        results.append(timing)
        print(f"run {k + 1}: to the first step wall {timing.first_step_wall:.2f} s, cpu "
              f"{timing.first_step_cpu:.2f} s; whole job wall {timing.wall:.2f} s, cpu "
              f"{timing.cpu:.2f} s", flush=True)
    print(f"best: to the first step wall {min(t.first_step_wall for t in results):.2f} s, cpu "
          f"{min(t.first_step_cpu for t in results):.2f} s; whole job wall "
          f"{min(t.wall for t in results):.2f} s, cpu {min(t.cpu for t in results):.2f} s")
    if args.importtime:
        for micros, name in slowest_imports(stderr):
            print(f"{micros / 1e6:7.2f} s  {name}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
