"""Mutation testing (mutmut 3) of the formula modules, each against only the tests that cover it.

    python scripts/mutate.py                 # every module below
    python scripts/mutate.py cells tasks     # some of them
    python scripts/mutate.py --jobs 2        # mutmut's --max-children (default 1)
    python scripts/mutate.py --survivors tables   # re-test only the last run's survivors

Each module runs in its own scratch copy `.mutate/<module>/` with a `[tool.mutmut]` section that
names the module's files (`only_mutate`) and its test files; within those, mutmut runs each mutant
against only the tests that executed the mutated function. Results are cached there, so a rerun
re-tests only mutants of changed functions; after adding tests, `--survivors` re-tests the
mutants listed as survivors (mutmut keeps a cached verdict otherwise).
Prints a table of killed / survived / no-test counts per module and
writes it to `.mutate/scores.json`; survivors are listed in `.mutate/<module>/survivors.txt`
(`mutmut show NAME` inside that folder prints a mutant's diff). Not part of `make test`.

mutmut runs a mutant only against the tests that executed its function while it collected the
map; a module-scoped fixture that calls the function runs it under its first test only, so the
listed test files keep such fixtures function-scoped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".mutate"
COPIED = ("variants", "tasks", "gatebench", "tests", "conf", "pyproject.toml")

# module -> (files mutated, test files that cover them)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "cells": (["variants/cells/*"], [
        "tests/test_variants_equations.py", "tests/test_variants_torch_equivalence.py",
        "tests/test_variants_init.py", "tests/test_variants_chrono_exact.py",
        "tests/test_variants_user_cell.py", "tests/test_cells_reference.py",
        "tests/test_cells_options.py",
    ]),
    "tasks": (["tasks/*"], [
        "tests/test_tasks_api.py", "tests/test_tasks_baselines.py",
        "tests/test_tasks_targets.py", "tests/test_tasks_datamodule.py",
        "tests/test_tasks_solved_rules.py", "tests/test_tasks_params_and_streams.py",
        "tests/test_tasks_sampling_exact.py", "tests/test_tasks_relevant_positions.py",
        "tests/test_tasks_datamodule_exact.py", "tests/test_tasks_contract_exact.py",
    ]),
    "statistics": (["gatebench/report/statistics.py"], [
        "tests/test_report_statistics.py", "tests/test_report_statistics_edges.py",
        "tests/test_report_statistics_exact.py",
        # effect sizes, exact minimum p-values and seeds advice are reached through the tables
        "tests/test_report_effects.py", "tests/test_report_solved_counts.py",
        "tests/test_report_survival.py", "tests/test_report_fair.py",
    ]),
    "tables": (["gatebench/report/tables.py"], [
        "tests/test_report_statistics.py", "tests/test_report_solved_counts.py",
        "tests/test_report_survival.py", "tests/test_report_fair.py",
        "tests/test_report_bad_records.py", "tests/test_report_effects.py",
        "tests/test_report_problem_runs.py", "tests/test_report_table_columns.py",
    ]),
    "callbacks": (["gatebench/training/callbacks.py"], [
        "tests/test_train_units.py", "tests/test_callbacks_exact.py",
        "tests/test_train_runs.py",  # the logging hooks, under a real Trainer
    ]),
    "model": (["gatebench/training/model.py"], [
        "tests/test_train_units.py", "tests/test_model_wiring.py",
        # the Lightning hooks (validation, test, checkpoint, optimizer wiring) run only under a
        # real Trainer: short in-process training runs
        "tests/test_train_runs.py", "tests/test_length_generalisation.py",
        "tests/test_run_resume.py", "tests/test_learning.py", "tests/test_model_hooks.py",
        "tests/test_model_readout.py",
    ]),
    "layer": (["variants/layer.py"], [
        "tests/test_variants_torch_equivalence.py", "tests/test_variants_dropout_direction.py",
        "tests/test_layer_dropout_exact.py", "tests/test_variants_init.py",
        "tests/test_variants_chrono_exact.py", "tests/test_variants_resolved_backend.py",
        "tests/test_variants_user_cell.py", "tests/test_model_readout.py",
    ]),
    "diagnostics": (["gatebench/diagnostics/*"], [
        "tests/test_diagnostics_gates.py", "tests/test_diagnostics_exact.py",
        "tests/test_diagnostics_runs.py",  # the callback and the npz store, in training runs
    ]),
    "sensitivity": (["gatebench/report/sensitivity.py"], [
        "tests/test_report_fair.py", "tests/test_report_fair_edges.py",
        "tests/test_report_fair_markdown.py", "tests/test_report_sensitivity_exact.py",
    ]),
    "generalisation": (["gatebench/report/generalisation.py"], [
        "tests/test_report_fair.py", "tests/test_report_fair_edges.py",
        "tests/test_report_fair_markdown.py", "tests/test_report_length_plot.py",
    ]),
    "importance": (["gatebench/report/importance.py"], [
        "tests/test_report_fair.py", "tests/test_report_fair_edges.py",
        "tests/test_report_fair_markdown.py", "tests/test_report_importance_exact.py",
    ]),
    "param_budget": (["gatebench/config/param_budget.py"], [
        "tests/test_param_budget.py", "tests/test_param_budget_ties.py",
    ]),
}
# Left out of the lists above: tests that run subprocesses (the CLI; mutmut's trampolines do not
# reach them) and test_variants_errors.py (fails under mutmut's copy at stats collection).
# Speed scripts, not formulas: tasks/benchmark.py times the data generators.
EXCLUDED = ["tasks/benchmark.py"]
STATUS = {"killed": "killed", "survived": "survived", "no tests": "no tests",
          "timeout": "killed", "suspicious": "survived", "segfault": "killed"}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def prepare(module: str) -> Path:
    """Copy the sources into `.mutate/<module>/` with this module's mutmut configuration."""
    mutate, tests = MODULES[module]
    tests = [t for t in tests if (REPO / t).exists()]
    folder = WORK / module
    folder.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source, target = REPO / name, folder / name
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    config = (
        "\n[tool.mutmut]\n"
        f"source_paths = {_toml_list(sorted({p.split('/')[0] + '/' for p in mutate}))}\n"
        f"only_mutate = {_toml_list(mutate)}\n"
        f"do_not_mutate = {_toml_list(EXCLUDED)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-m", "not slow"]\n'
        'also_copy = ["conf", "variants", "tasks", "gatebench"]\n'
    )
    with open(folder / "pyproject.toml", "a") as handle:
        handle.write(config)
    # mutmut maps each function to the tests that run it once and caches the map: a function
    # added since, or a test added for an old one, would be missed. Recollecting takes seconds.
    (folder / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return folder


def _results(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """mutmut's verdict per mutant name."""
    mutmut = Path(sys.executable).with_name("mutmut")
    listing = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=folder, env=env,
                             capture_output=True, text=True, check=True).stdout
    verdicts = {}
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            verdicts[name] = status
    return verdicts


def run(module: str, jobs: int, survivors_only: bool = False) -> dict[str, int]:
    """Run mutmut for one module; the counts of each outcome. With `survivors_only`, the
    mutants of changed functions are tested first (as always), then every mutant whose cached
    verdict is `survived` or `no tests` is re-tested."""
    folder = prepare(module)
    listed = folder / "survivors.txt"
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONPATH": ""}
    with open(folder / "run.log", "w") as log:
        command = [str(mutmut), "run", "--max-children", str(jobs)]
        subprocess.run(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                       check=False)
        # the survivors and the mutants without tests (those may have tests now), including
        # any the first pass just left alive: they are few
        names = [name for name, status in _results(folder, env).items()
                 if STATUS.get(status) in ("survived", "no tests")] if survivors_only else []
        if names:
            subprocess.run([*command, *names], cwd=folder, env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=False)
    counts: Counter[str] = Counter()
    survivors = []
    for name, status in _results(folder, env).items():
        counts[STATUS.get(status, status)] += 1
        if STATUS.get(status) in ("survived", "no tests"):
            survivors.append(f"{name}: {status}")
    listed.write_text("\n".join(survivors) + "\n")
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(MODULES)} (default all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel")
    parser.add_argument("--survivors", action="store_true",
                        help="re-test only the mutants the last run left alive")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; accepted: {', '.join(MODULES)}")
    scores_file = WORK / "scores.json"
    scores: dict[str, dict[str, int]] = {}
    for module in args.modules or list(MODULES):
        counts = run(module, args.jobs, args.survivors)
        # read again just before writing: another run (another module) may have written since
        scores = json.loads(scores_file.read_text()) if scores_file.exists() else {}
        scores[module] = counts
        scores_file.write_text(json.dumps(scores, indent=2))
    print(f"{'module':<12} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module, counts in scores.items():
        killed, alive = counts.get("killed", 0), counts.get("survived", 0)
        untested = counts.get("no tests", 0)
        total = killed + alive + untested
        score = f"{killed / total:.1%}" if total else "-"
        print(f"{module:<12} {killed:>7} {alive:>9} {untested:>9} {score:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
