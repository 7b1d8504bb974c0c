"""Break each formula once, by hand, and check that the tests aimed at it fail (issue 17).

    python scripts/break_each.py            # every bug below
    python scripts/break_each.py chrono     # the bugs whose name contains "chrono"

Each bug is one realistic one-line mistake (the ones a first review found surviving the suite,
and the length-generalisation norm_loss bug). For each, the sources are copied to a scratch
folder `.mutate/break/`, the line is replaced there, and only the listed test files run; the
bug is `caught` when they fail. Prints one line per bug and exits 1 if any bug survives.
Not part of `make test` (about 1.5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".mutate" / "break"
COPIED = ("variants", "tasks", "gatebench", "tests", "conf", "pyproject.toml")


@dataclass(frozen=True)
class Bug:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = (
    Bug("norm_loss at another test length uses the training length's baseline",
        "gatebench/training/model.py", "self.test_baselines[length],", "self.baseline,",
        ("tests/test_length_generalisation.py",)),
    Bug("gru: z and r swapped", "variants/cells/gru.py",
        "r = self.gate(xr + hr)\n        z = self.gate(xz + hz)\n        n = self.act(torch.addc",
        "z = self.gate(xr + hr)\n        r = self.gate(xz + hz)\n        n = self.act(torch.addc",
        ("tests/test_variants_equations.py", "tests/test_variants_torch_equivalence.py")),
    Bug("gru_cho: reset gate after the recurrent matmul", "variants/cells/gru.py",
        'torch.addmm(xn, r * h_in, weights.extra["weight_hh_n_t"])',
        'xn + r * torch.mm(h_in, weights.extra["weight_hh_n_t"])',
        ("tests/test_variants_equations.py", "tests/test_variants_torch_equivalence.py")),
    Bug("peephole: output peephole reads the old cell state", "variants/cells/lstm.py",
        'o = self.gate(torch.addcmul(pre["o"], peep["o"], c) if peep',
        'o = self.gate(torch.addcmul(pre["o"], peep["o"], c_prev) if peep',
        ("tests/test_variants_equations.py", "tests/test_variants_torch_equivalence.py")),
    Bug("regression solved rule without the x baseline factor", "tasks/families.py",
        'ok &= self._metric(metrics, "mse") <= p["solved_norm_mse"] * self.baseline()',
        'ok &= self._metric(metrics, "mse") <= p["solved_norm_mse"]',
        ("tests/test_tasks_solved_rules.py",)),
    Bug("SolvedTracker.best: min and max the wrong way round", "gatebench/training/callbacks.py",
        'return value < best if self.mode == "min" else value > best',
        'return value > best if self.mode == "min" else value < best',
        ("tests/test_callbacks_exact.py", "tests/test_train_units.py")),
    Bug("solved rate counts failed runs in its denominator", "gatebench/report/tables.py",
        'attempted = len(group) - counts["failed"]\n', "attempted = len(group)\n",
        ("tests/test_report_solved_counts.py",)),
    Bug("steps to solve: unsolved runs counted as solved at their last step",
        "gatebench/report/survival.py",
        "stats.CensoredData(uncensored=times.events, right=times.censored)",
        "stats.CensoredData(uncensored=np.concatenate([times.events, times.censored]))",
        ("tests/test_report_survival.py", "tests/test_report_solved_counts.py")),
    Bug("model reads out at step 0 instead of the last step", "gatebench/training/model.py",
        "return output[:, -1]", "return output[:, 0]",
        ("tests/test_model_wiring.py", "tests/test_learning.py")),
    Bug("train/grad_norm over the recurrent layer only", "gatebench/training/model.py",
        "norms = [p.grad.detach().norm(2) for p in self.parameters()",
        "norms = [p.grad.detach().norm(2) for p in self.layer.parameters()",
        ("tests/test_model_wiring.py",)),
    Bug("steps/sec includes validation time", "gatebench/training/callbacks.py",
        "self._t0 += time.perf_counter() - self._paused_at", "self._t0 += 0.0",
        ("tests/test_callbacks_exact.py",)),
    Bug("chrono range off by one: U(1, T_max) instead of U(1, T_max - 1)", "variants/init.py",
        "u.uniform_(1.0, chrono_t_max - 1.0, generator=generator)",
        "u.uniform_(1.0, chrono_t_max, generator=generator)",
        ("tests/test_variants_chrono_exact.py",)),
    # issue 25: the two readout bugs (as they were), then the 11 mutations that survived
    Bug("readout: bidirectional read at the last step (the reverse half saw only x[T-1])",
        "gatebench/training/model.py",
        "return torch.cat([output[:, -1, :h], output[:, 0, h:]], dim=-1)",
        "return output[:, -1]", ("tests/test_model_readout.py",)),
    Bug("readout: bidirectional go_backwards per-step outputs left in processing order",
        "gatebench/training/model.py",
        'return output.flip(1) if rule == "every_time_order" else output', "return output",
        ("tests/test_model_readout.py",)),
)  # fmt: skip


def copy_sources() -> None:
    """A fresh scratch copy of the sources and tests."""
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    SCRATCH.mkdir(parents=True)
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, SCRATCH / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, SCRATCH / name)


def run_tests(tests: tuple[str, ...]) -> int:
    """pytest's exit code for `tests` run against the scratch copy."""
    env = {**os.environ, "PYTHONPATH": str(SCRATCH), "OMP_NUM_THREADS": "1",
           "WANDB_MODE": "offline", "WANDB_SILENT": "true"}  # fmt: skip
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               "-m", "not slow", *tests]  # fmt: skip
    return subprocess.run(command, cwd=SCRATCH, env=env, capture_output=True).returncode


def check(bug: Bug) -> str:
    """`caught`, `SURVIVED` or why the bug could not be applied."""
    path = SCRATCH / bug.file
    text = (REPO / bug.file).read_text()
    if text.count(bug.old) != 1:
        return f"not applied: the line occurs {text.count(bug.old)} times in {bug.file}"
    path.write_text(text.replace(bug.old, bug.new))
    try:
        code = run_tests(bug.tests)
    finally:
        path.write_text(text)
    return "caught" if code == 1 else ("SURVIVED" if code == 0 else f"pytest exit {code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("match", nargs="?", default="", help="run the bugs whose name has this")
    args = parser.parse_args(argv)
    bugs = [bug for bug in BUGS if args.match in bug.name]
    if not bugs:
        parser.error(f"no bug name contains {args.match!r}")
    copy_sources()
    probe = subprocess.run(
        [sys.executable, "-c", "import gatebench; print(gatebench.__file__)"], cwd=SCRATCH,
        env={**os.environ, "PYTHONPATH": str(SCRATCH)}, capture_output=True, text=True,
    )  # fmt: skip
    if not probe.stdout.startswith(str(SCRATCH)):
        raise SystemExit(f"the scratch copy is not the one imported: {probe.stdout.strip()}")
    if run_tests(tuple(sorted({t for bug in bugs for t in bug.tests}))) != 0:
        raise SystemExit("the tests fail without any bug: fix them first")
    outcomes = []
    for bug in bugs:
        outcome = check(bug)
        outcomes.append(outcome)
        print(f"{outcome:<9} {bug.name}  [{', '.join(Path(t).name for t in bug.tests)}]",
              flush=True)
    return 0 if all(o == "caught" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
