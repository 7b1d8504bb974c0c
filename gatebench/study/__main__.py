"""`python -m gatebench.study SPEC.yaml`: run (or resume) a study and write its report.

    python -m gatebench.study conf/study/tiny.yaml            # tune, select, evaluate, report
    python -m gatebench.study conf/study/tiny.yaml --dry-run  # print the multiruns, run nothing
    python -m gatebench.study conf/study/reference_study.yaml --report-only

Stages: tune (every cell x task x length x grid point x tuning seed) -> select on validation
(the report's rule, from the records) -> [extend_edges: tune the added grid points, select
again] -> evaluate the selected setting on the evaluation seeds -> report. Every stage is
ordinary Hydra multiruns (`python -m gatebench.train -m ...`, the spec's launcher), so a re-run
trains nothing that is final and resumes what was cut. Exit 0 when complete, 1 when jobs
failed or are missing (re-run to resume), 2 on a bad spec (one line).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from gatebench.study.spec import Spec, check_stored, load_spec


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gatebench.study",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("spec", help="a study spec (YAML), e.g. conf/study/tiny.yaml")
    parser.add_argument("--dir", help="the study directory (default: the spec's `dir`)")
    parser.add_argument("--dry-run", action="store_true", help="print the multiruns only")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: select and report from the records present")
    parser.add_argument("--no-plots", action="store_true", help="report without plots")
    return parser.parse_args(argv)


LOG = "gatebench-study.log"  # the study tool's own log (a study dir may hold older logs)


class Say:
    def __init__(self, spec: Spec, dry_run: bool) -> None:
        self.spec, self.dry_run, self.started = spec, dry_run, time.time()

    def __call__(self, text: str) -> None:
        line = f"study {self.spec.name}: {text}"
        print(line, flush=True)
        if not self.dry_run:
            with open(self.spec.dir / LOG, "a") as log:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                log.write(f"[{stamp}] {line}\n")


def run(args: argparse.Namespace) -> int:
    from gatebench.report.records import load_runs
    from gatebench.study.plan import multiruns, resolve, tuning_jobs
    from gatebench.study.select import choose, evaluation_jobs, extended, runs_of
    from gatebench.study.stages import Stages

    spec = load_spec(args.spec, args.dir)
    check_stored(spec, write=False)  # a changed spec is refused before anything is composed
    resolved = resolve(spec)
    if not args.dry_run:
        check_stored(spec)
    say = Say(spec, args.dry_run)
    stages = Stages(spec, resolved, say)
    failures: list[str] = []
    train = not args.report_only

    def stage(name: str, jobs: list) -> None:
        if train:
            failures.extend(stages.run(name, multiruns(spec, jobs, resolved),
                                       args.dry_run).failures)  # fmt: skip

    def records():
        try:
            return load_runs([spec.dir])
        except ValueError:
            return None

    grid = spec.grid
    jobs = tuning_jobs(spec, grid)
    stage("tune", jobs)
    loaded = records()
    if loaded is None:
        say("no tuning records to select from")
        return 0 if args.dry_run else 1
    tuning = runs_of(loaded.runs, spec, jobs, resolved)
    # a failed run (an exception: its record says so) is left out of the selection, as the
    # report's rule does, and retried by the next invocation; a missing record stops here
    if len(tuning) < len(jobs):
        say(f"{len(jobs) - len(tuning)} tuning run(s) have no record: re-run to resume them"
            + (" (dry run: the evaluation stage follows their selection)" if args.dry_run else ""))
        return 0 if args.dry_run else 1
    choice = choose(spec, grid, tuning, resolved)
    if spec.extend_edges and choice.edges:
        wider = extended(grid, choice)
        added = {k: [v for v in wider[k] if v not in grid[k]] for k in grid}
        say("extend_edges: adding " + "; ".join(f"{k} {v}" for k, v in added.items() if v))
        grid = wider
        jobs = tuning_jobs(spec, grid)
        stage("tune-extended", jobs)
        loaded = records()
        tuning = runs_of(loaded.runs, spec, jobs, resolved) if loaded else tuning
        if len(tuning) < len(jobs):
            say("the extended grid's tuning runs are incomplete: re-run to resume them")
            return 0 if args.dry_run else 1
        choice = choose(spec, grid, tuning, resolved)
    say("selected: " + "; ".join(
        f"{c} {t} T={n}: " + ", ".join(f"{k}={v}" for k, v in s)
        + (" (edge)" if (c, t, n) in choice.edges else "")
        for (c, t, n), s in sorted(choice.setting.items())))  # fmt: skip
    final_jobs = evaluation_jobs(spec, choice)
    stage("evaluate", final_jobs)
    if args.dry_run:
        return 0
    loaded = records()
    evaluation = runs_of(loaded.runs, spec, final_jobs, resolved)
    tuning = runs_of(loaded.runs, spec, jobs, resolved)
    command = f"python -m gatebench.study {args.spec}"
    from gatebench.study.report import write_study_report

    path = write_study_report(spec, loaded, tuning, evaluation, choice, grid, resolved, command,
                              plots=not args.no_plots, expected=len(final_jobs))  # fmt: skip
    say(f"report: {path}")
    missing = len(final_jobs) - len(evaluation)
    if missing:
        failures.append(f"evaluate: {missing} evaluation run(s) have no record")
    for failure in failures:
        say(f"FAILED: {failure}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ValueError as error:
        print(f"gatebench.study: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
