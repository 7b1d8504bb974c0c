"""Break each formula once, by hand, and check that the tests aimed at it fail (issues 17, 25).

    python scripts/break_each.py            # every bug below
    python scripts/break_each.py chrono     # the bugs whose name contains "chrono"

Each bug is one realistic one-line mistake: the ones a first review found surviving the suite
and the length-generalisation norm_loss bug (issue 17); the two readout bugs and the mutations a
second review found surviving (issue 25). For each, the sources are copied to a scratch folder
`.mutate/break/`, the line is replaced there, and only the listed test files run; the bug is
`caught` when they fail. Prints one line per bug and exits 1 if any bug survives. Not part of
`make test` (27 bugs: 17 minutes on 2 cores shared with a load of ~11; 1.5 minutes for the
first 12 on an idle machine).
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
    Bug("recurrent dropout mask keeps a unit with probability p, not 1 - p", "variants/layer.py",
        "mask.bernoulli_(1.0 - p, generator=self.generator)",
        "mask.bernoulli_(p, generator=self.generator)",
        ("tests/test_layer_dropout_exact.py", "tests/test_variants_dropout_direction.py")),
    Bug("inter-layer dropout also applied after the last layer", "variants/layer.py",
        "if layer < self.num_layers - 1:", "if layer < self.num_layers:",
        ("tests/test_layer_dropout_exact.py", "tests/test_variants_dropout_direction.py")),
    Bug("one recurrent-dropout mask per layer, shared by both directions", "variants/layer.py",
        "mask = None if masks is None else masks[row]",
        "mask = None if masks is None else masks[layer]",
        ("tests/test_layer_dropout_exact.py", "tests/test_variants_dropout_direction.py")),
    Bug("diagnostics: gradient ratio at the last marked input, not the first",
        "gatebench/diagnostics/snapshot.py",
        "measures.gradient_ratio(norms, inputs[:, 0], readout)",
        "measures.gradient_ratio(norms, inputs[:, -1], readout)",
        ("tests/test_diagnostics_exact.py", "tests/test_diagnostics_gates.py")),
    Bug("diagnostics: retention NaN at the readout step (instead of 1)",
        "gatebench/diagnostics/measures.py",
        "steps[None, :] > readout.to(logs.device)[:, None]",
        "steps[None, :] >= readout.to(logs.device)[:, None]",
        ("tests/test_diagnostics_exact.py", "tests/test_diagnostics_gates.py")),
    Bug("diagnostics: best kept unit's window starts at first, not first + 1",
        "gatebench/diagnostics/measures.py", "k[first + 1 : readout + 1]",
        "k[first : readout + 1]",
        ("tests/test_diagnostics_exact.py", "tests/test_diagnostics_gates.py")),
    Bug("diagnostics: best kept unit's window ends before the readout",
        "gatebench/diagnostics/measures.py", "k[first + 1 : readout + 1]",
        "k[first + 1 : readout]",
        ("tests/test_diagnostics_exact.py", "tests/test_diagnostics_gates.py")),
    Bug("sensitivity compares test values when only some runs have one",
        "gatebench/report/sensitivity.py",
        "np.isfinite(test.to_numpy(dtype=float)).all()",
        "np.isfinite(test.to_numpy(dtype=float)).any()",
        ("tests/test_report_fair_edges.py", "tests/test_report_fair.py")),
    Bug("length table's median computed as a mean", "gatebench/report/generalisation.py",
        "return float(np.median(data)), float(data.min())",
        "return float(np.mean(data)), float(data.min())",
        ("tests/test_report_fair_edges.py", "tests/test_report_fair.py")),
    Bug("length table built when only one length was tested",
        "gatebench/report/generalisation.py",
        'if group["test_length"].nunique() < 2:', 'if group["test_length"].nunique() < 1:',
        ("tests/test_report_fair_edges.py", "tests/test_report_fair.py")),
    Bug("fANOVA rows for a variant that varies only one key", "gatebench/report/importance.py",
        "if len(varying) < 2 or len(usable) < 2:", "if len(varying) < 1 or len(usable) < 2:",
        ("tests/test_report_fair_edges.py", "tests/test_report_fair.py")),
    Bug("param budget: a tie goes to the larger hidden size", "gatebench/config/param_budget.py",
        "key=lambda h: (abs(poly(h) - budget), h))", "key=lambda h: (abs(poly(h) - budget), -h))",
        ("tests/test_param_budget_ties.py", "tests/test_param_budget.py")),
    Bug("bptt C step: hard-sigmoid derivative 0.2 where it saturates",
        "variants/backends/bptt/csrc/bptt_steps.c",
        "out[j] = (y[j] > 0 && y[j] < 1) ? (REAL)0.2 : 0;",
        "out[j] = (y[j] >= 0 && y[j] <= 1) ? (REAL)0.2 : 0;",
        ("tests/test_bptt_hard_sigmoid_saturation.py", "tests/test_backend_bptt.py")),
    Bug("bptt torch ops: hard-sigmoid derivative 0.2 where it saturates",
        "variants/backends/bptt/activations.py", "inside = (y > 0) & (y < 1)",
        "inside = (y >= 0) & (y <= 1)",
        ("tests/test_bptt_hard_sigmoid_saturation.py", "tests/test_backend_bptt.py")),
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
