"""Start-up cost of a training job: wall and CPU seconds of `gatebench.train` running one step.

    python -m devtools.startup [--repeats 3] [--imports MODULE] [--importtime] [OVERRIDE ...]

Runs ``python -m gatebench.train`` with one training step and no test (so nearly all of its
time is start-up: imports, Hydra, building the model and the Trainer, the initial diagnostics and
the step-0 validation every fresh run does; then the step itself and a last validation)
``--repeats`` times, and prints each run's wall time and its CPU time (user +
system, from the child's rusage). On a shared machine the wall time grows with the load and the
CPU time much less: report both with the load. ``--imports`` adds modules the job imports first
(``imports=[...]``), e.g. to measure what one module costs. ``--importtime`` also prints the
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ONE_STEP = ("trainer.max_steps=1", "test=false", "threads=1")


def one_run(overrides: Sequence[str], importtime: bool) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one job."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, *(["-X", "importtime"] if importtime else []),
                   "-m", "gatebench.train", *ONE_STEP, *overrides, f"hydra.run.dir={tmp}/run"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"gatebench.train failed: {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def slowest_imports(stderr: str, n: int = 15) -> list[tuple[int, str]]:
    """The `n` largest cumulative import times (microseconds, module) of ``-X importtime``."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:n]


def main(argv: Sequence[str] | None = None) -> list[tuple[float, float]]:
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
    results, stderr = [], ""
    for k in range(args.repeats):
        wall, cpu, stderr = one_run(overrides, args.importtime and k == args.repeats - 1)
        results.append((wall, cpu))
        print(f"run {k + 1}: wall {wall:.2f} s, cpu {cpu:.2f} s", flush=True)
    print(f"best: wall {min(w for w, _ in results):.2f} s, cpu {min(c for _, c in results):.2f} s")
    if args.importtime:
        for micros, name in slowest_imports(stderr):
            print(f"{micros / 1e6:7.2f} s  {name}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
