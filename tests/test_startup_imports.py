"""Start-up (issue 27): what a training job imports before it builds anything stays light.

`python -m gatebench.train` imports its module and Hydra instantiates the end-of-sweep callbacks
(the sweep progress callback included) before the job runs; none of that may load pandas (the
report), torch, Lightning or the plotting and logging libraries: they cost seconds of every
job's start-up, and of a `--help`, a config error or a joblib sweep's parent process.
`gatebench.report`'s names load on first use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "torch", "scipy", "matplotlib", "wandb", "optuna", "pytorch_lightning")


def test_the_entry_point_and_the_report_callback_import_nothing_heavy():
    code = ("import sys, gatebench.train, gatebench.report.callback, gatebench.sweep.status, "
            "gatebench.sweep.hydra_callbacks, gatebench.sweep.progress; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_report_names_load_on_first_use():
    import gatebench.report as report
    from gatebench.report import records, tables, writer

    assert report.load_runs is records.load_runs and report.summarize is tables.summarize
    assert report.write_report is writer.write_report
    assert sorted(report.__all__) == sorted(report._HOME)
    try:
        report.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_startup_tool_reads_importtime_lines():
    from devtools.startup import slowest_imports

    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       120 |        300 |   b\n"
              "import time:        50 |       2000 | a\n"
              "some other line\n")
    assert slowest_imports(stderr, 1) == [(2000, " a")]
    assert [m for _, m in slowest_imports(stderr)] == [" a", "   b"]


@pytest.mark.slow
def test_startup_tool_times_a_one_step_job():
    from devtools import startup

    (timing,) = startup.main(["--repeats", "1", "variant.hidden_size=4", "data.batch_size=2",
                              "task.length=5", "data.val_size=2", "data.test_size=2"])
    assert 0 < timing.first_step_wall < timing.wall and 0 < timing.first_step_cpu < timing.cpu
