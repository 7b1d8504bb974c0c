"""The reference study (results/reference_study/): tune, select on validation, then add seeds.

    python scripts/reference_study.py                  # run (or resume) the whole study
    python scripts/reference_study.py --dry-run        # print the sweeps it would launch
    python scripts/reference_study.py --only how_far   # one question's chains

Every (cell, task) is a *chain* of Hydra multiruns into one sweep directory (the settings shared
by every run are `conf/experiment/reference_study.yaml`):

1. tune: every length of the chain x learning rates 0.001, 0.003, 0.01 x seeds 0, 1;
2. select: per (task, T, cell) the learning rate with the best median final validation metric
   on those seeds (`gatebench.report.selection`, the report's own rule: the test set is never
   read);
3. evaluate: seeds 2, 3, 4 at the selected learning rate, so the tables hold 5 seeds per cell.

Then the budget check (`longer_budget`): the copy runs of the gated cells were still learning
at 6000 steps, so their selected settings at copy T = 100 run again, seeds 0-4, with a
20000-step budget into `results/reference_study_long/`, which gets its own report.

Reports: the study's (`report.md`, reference `lstm`) and, per question that asks about another
cell, a focused one in a subfolder (`QUESTION_REPORTS`: `rnn_init/` against `rnn`,
`fair_lstm/` against `gru`), so those comparisons are tested directly.

Two chains run at a time (one job each, one torch thread: the 2-core machine's two cores).
Every job skips when its run directory already holds a final record and resumes from its
`last.ckpt` otherwise, so re-running this command after an interruption finishes the study and
re-running it on a complete study launches no training. At the end it writes the report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWEEP_DIR = REPO / "results" / "reference_study"
LONG_DIR = REPO / "results" / "reference_study_long"
LONG_STEPS = 20000  # the budget check's step budget (the study's is 6000)
LONG_LENGTH = 100  # ... at this length of each `longer_budget` chain
LRS = (0.001, 0.003, 0.01)
TUNING_SEEDS = (0, 1)
EVALUATION_SEEDS = (2, 3, 4)
# Each invocation writes no sweep-level report or tally: two run at once into one directory,
# and the study writes its report once at the end.
QUIET = ["~hydra.callbacks.report", "~hydra.callbacks.sweep_progress"]
REPORT_ARGS = ["--select", "val", "--select-over", "optimizer.lr", "--reference", "lstm"]
# The budget check runs one (selected) setting per cell: nothing to select.
LONG_REPORT_ARGS = ["--select", "none", "--reference", "lstm"]
# Focused reports (`<sweep_dir>/<name>/`, tables only): one question's runs against the cell it
# asks about, so its comparisons are tested directly and Holm-corrected over that question.
QUESTION_REPORTS = {
    "rnn_init": (
        "Reference study, question 2: the tanh RNN's initialisation on adding",
        ["--reference", "rnn", "--filter", "task=adding", "--filter", "variant=rnn,rnn_orth,irnn",
         "--filter", "length=100,400"],
    ),
    "fair_lstm": (
        "Reference study, question 3: the GRU against a fair LSTM on copy",
        ["--reference", "gru", "--filter", "task=copy",
         "--filter", "variant=gru,lstm,lstm_fb1,lstm_chrono", "--filter", "length=100,200"],
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Chain:
    """One cell on one task at several lengths: tuned, selected and evaluated together."""

    question: str
    variant: str  # a conf/variant preset
    task: str
    lengths: tuple[int, ...]
    extra: tuple[str, ...] = field(default=())  # further overrides (e.g. a label, a budget)
    label: str | None = None  # the record's variant when `extra` relabels it

    @property
    def name(self) -> str:
        return f"{self.label or self.variant}-{self.task}"


def param_matched_budget() -> int:
    """Trainable parameters of the whole LSTM model (H = 32) on adding: the RNN's budget."""
    from hydra import compose, initialize_config_dir

    import variants
    from gatebench.config.build import build_task_and_model

    overrides = ["experiment=reference_study", "variant=lstm", "task=adding", "run_dir=/tmp/x"]
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose("train", overrides=overrides)
    _, model = build_task_and_model(cfg)
    return variants.count_parameters(model)


def chains() -> list[Chain]:
    """The study's design, in the order it runs (the most important questions first).

    Sized from its first runs to about 3 h of the 2-core machine: the initialisation question
    runs at T = 100 and 400 only, and Greff et al.'s variants on adding at T = 200 only (copy
    at T = 50 was cut: breadth before depth)."""
    core = ("rnn", "lstm", "gru")
    adding, copy = (100, 200, 400), (50, 100, 200)
    budget = param_matched_budget()
    return [
        *(Chain("how_far", v, "adding", adding) for v in core),
        *(Chain("how_far", v, "copy_k4", copy) for v in core),
        *(Chain("rnn_init", v, "adding", (100, 400)) for v in ("rnn_orth", "irnn")),
        *(Chain("fair_lstm", v, "copy_k4", (100, 200)) for v in ("lstm_fb1", "lstm_chrono")),
        Chain(
            "param_matched", "rnn", "adding", (100,),
            extra=("++variant.label=rnn_pm", f"model.param_budget={budget}"), label="rnn_pm",
        ),
        *(Chain("greff", v, "adding", (200,)) for v in ("peephole", "cifg", "nfg", "noaf")),
    ]  # fmt: skip


def longer_budget() -> list[Chain]:
    """The chains whose selected setting at `LONG_LENGTH` reruns with `LONG_STEPS` steps:
    the cells whose copy runs were still improving when the 6000-step budget cut them."""
    return [c for c in chains() if c.task == "copy_k4" and c.variant != "rnn"]


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it (the records then hold relative dirs)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def sweep_command(
    chain: Chain, sweep_dir: Path, lengths, lrs, seeds, overrides: tuple[str, ...] = ()
) -> list[str]:
    """The `gatebench.train` multirun of `chain` at these lengths, learning rates and seeds."""
    return [
        sys.executable, "-m", "gatebench.train", "-m", "experiment=reference_study",
        f"variant={chain.variant}", f"task={chain.task}",
        f"task.length={','.join(str(n) for n in lengths)}",
        f"optimizer.lr={','.join(str(x) for x in lrs)}",
        f"seed={','.join(str(s) for s in seeds)}",
        f"hydra.sweep.dir={_shown(sweep_dir)}", *chain.extra, *overrides, *QUIET,
    ]  # fmt: skip


def recorded_task_name(preset: str) -> str:
    """The task name records carry for a `conf/task` preset (`copy_k4` records say `copy`)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose("train", overrides=[f"task={preset}", "run_dir=/tmp/x"])
    return str(cfg.task.name)


def selected_lrs(chain: Chain, sweep_dir: Path) -> dict[int, float]:
    """Per length of `chain`, the learning rate the report's selection rule picks from the
    tuning runs (seeds 0 and 1 of every learning rate)."""
    from gatebench.report import load_runs
    from gatebench.report.selection import select

    runs = load_runs([sweep_dir]).runs
    label = chain.label or chain.variant
    mine = runs[
        (runs["variant"] == label)
        & (runs["task"] == recorded_task_name(chain.task))
        & runs["length"].isin(chain.lengths)
        & runs["seed"].isin(TUNING_SEEDS)
    ]
    missing = len(chain.lengths) * len(LRS) * len(TUNING_SEEDS) - len(mine)
    if missing:
        raise RuntimeError(f"{chain.name}: {missing} tuning run(s) have no record; see its log")
    chosen = select(mine, mode="val", over=["optimizer.lr"]).chosen
    return {
        int(row.length): float(row.selected.split("=", 1)[1]) for row in chosen.itertuples()
    }


class Study:
    """Runs the chains two at a time; one log file per chain in the sweep directory."""

    def __init__(self, sweep_dir: Path, dry_run: bool, overrides: tuple[str, ...] = ()) -> None:
        self.sweep_dir = sweep_dir
        self.dry_run = dry_run
        self.overrides = overrides
        self.lock = threading.Lock()
        self.failed: list[str] = []
        self.started = time.time()

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{(time.time() - self.started) / 60:.1f} min] {text}"
        with self.lock:
            print(line, flush=True)
            if not self.dry_run:
                with open(self.sweep_dir / "study.log", "a") as log:
                    log.write(line + "\n")

    def launch(self, chain: Chain, phase: str, command: list[str]) -> bool:
        shown = " ".join(command[2:])
        if self.dry_run:
            print(f"{chain.name} {phase}: python {shown}")
            return True
        log_path = self.sweep_dir / f"study-{chain.name}.log"
        with open(log_path, "a") as log:
            log.write(f"\n### {phase}: python {shown}\n")
            log.flush()
            code = subprocess.call(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        if code != 0:
            self.failed.append(f"{chain.name} {phase} (exit {code}, see {log_path.name})")
        return code == 0

    def run_chain(self, chain: Chain) -> None:
        self.say(f"{chain.name}: tuning {len(chain.lengths) * len(LRS) * 2} runs")
        tune = sweep_command(
            chain, self.sweep_dir, chain.lengths, LRS, TUNING_SEEDS, self.overrides
        )
        self.launch(chain, "tune", tune)
        if self.dry_run:
            lrs = {n: "<selected>" for n in chain.lengths}
        else:
            try:
                lrs = selected_lrs(chain, self.sweep_dir)
            except RuntimeError as error:
                self.failed.append(str(error))
                self.say(f"{chain.name}: {error}")
                return
        self.say(f"{chain.name}: selected " + ", ".join(f"T={n}: lr {x}" for n, x in lrs.items()))
        by_lr: dict = {}
        for length, lr in lrs.items():
            by_lr.setdefault(lr, []).append(length)
        for lr, lengths in sorted(by_lr.items(), key=lambda kv: str(kv[0])):
            command = sweep_command(
                chain, self.sweep_dir, lengths, [lr], EVALUATION_SEEDS, self.overrides
            )
            self.launch(chain, f"evaluate lr={lr}", command)
        self.say(f"{chain.name}: done")

    def run_longer(self, chain: Chain, long_dir: Path) -> None:
        """`chain`'s selected setting at `LONG_LENGTH`, seeds 0-4, with `LONG_STEPS` steps."""
        if self.dry_run:
            lr: float | str = "<selected>"
        else:
            try:
                lr = selected_lrs(chain, self.sweep_dir)[LONG_LENGTH]
            except (RuntimeError, KeyError) as error:
                self.failed.append(f"{chain.name} longer budget: {error!r}")
                self.say(f"{chain.name}: no selected setting at T={LONG_LENGTH}: {error!r}")
                return
        self.say(f"{chain.name}: T={LONG_LENGTH}, lr {lr}, {LONG_STEPS} steps, seeds 0-4")
        long_dir.mkdir(parents=True, exist_ok=True)
        seeds = (*TUNING_SEEDS, *EVALUATION_SEEDS)
        extra = (*self.overrides, f"trainer.max_steps={LONG_STEPS}")
        command = sweep_command(chain, long_dir, (LONG_LENGTH,), [lr], seeds, extra)
        self.launch(chain, f"longer budget lr={lr}", command)

    def report(self, sweep_dir: Path, title: str, args: list[str], extra=()) -> int:
        """`extra` (e.g. `--reference`, `--filter`, `--out`) overrides `args`."""
        command = [sys.executable, "-m", "gatebench.report", str(sweep_dir), *args,
                   *extra, "--title", title,
                   "--command", "python scripts/reference_study.py"]  # fmt: skip
        if self.dry_run:
            print("report: python " + " ".join(command[2:]))
            return 0
        self.say(f"writing the report of {_shown(sweep_dir)}")
        return subprocess.call(command, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep-dir", type=Path, default=SWEEP_DIR)
    parser.add_argument("--long-dir", type=Path, default=LONG_DIR,
                        help="sweep directory of the budget check")
    parser.add_argument("--jobs", type=int, default=2, help="chains run at once (default 2)")
    parser.add_argument("--only", nargs="*", help="questions (or chain names) to run")
    parser.add_argument("--dry-run", action="store_true", help="print the sweeps, run nothing")
    parser.add_argument("--no-report", action="store_true", help="skip the report at the end")
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="a Hydra override added to every sweep (repeatable), e.g. trainer=gpu",
    )  # fmt: skip
    args = parser.parse_args(argv)
    todo, longer = chains(), longer_budget()
    if args.only:
        known = {c.question for c in todo} | {c.name for c in todo} | {"longer_budget"}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: expected any of {', '.join(sorted(known))}")
        todo = [c for c in todo if c.question in args.only or c.name in args.only]
        longer = longer if "longer_budget" in args.only else []
    sweep_dir = args.sweep_dir.resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    study = Study(sweep_dir, args.dry_run, tuple(args.override))
    study.say(f"{len(todo)} chains into {sweep_dir}, {args.jobs} at a time")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(study.run_chain, todo))
        long_dir = args.long_dir.resolve()
        list(pool.map(lambda chain: study.run_longer(chain, long_dir), longer))
    code = 0
    if not args.no_report:
        title = "Reference study: how far back each cell remembers"
        code = study.report(sweep_dir, title, REPORT_ARGS)
        for name, (title, extra) in QUESTION_REPORTS.items():
            out = ("--no-plots", "--out", str(sweep_dir / name))
            code = study.report(sweep_dir, title, REPORT_ARGS, (*extra, *out)) or code
        if longer:
            budget = f"copy T = {LONG_LENGTH} at {LONG_STEPS} steps"
            code = study.report(long_dir, f"Reference study, budget check: {budget}",
                                LONG_REPORT_ARGS) or code
            # question 3 again, at the longer budget (its filters select the same cells)
            title, extra = QUESTION_REPORTS["fair_lstm"]
            out = ("--no-plots", "--out", str(long_dir / "fair_lstm"))
            code = study.report(long_dir, f"{title} ({budget})", LONG_REPORT_ARGS,
                                (*extra, *out)) or code
    for failure in study.failed:
        study.say(f"FAILED: {failure}")
    if code:
        study.say(f"FAILED: a report (exit {code})")
    study.say(f"finished: {len(study.failed) + bool(code)} failure(s)")
    return 1 if study.failed or code else 0


if __name__ == "__main__":
    sys.exit(main())
