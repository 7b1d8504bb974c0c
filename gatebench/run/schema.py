"""The run record's schema, defined once: file names, statuses and the keys of `results.json`.

Imports nothing but the standard library, so the report (which never imports torch) and the
runner read the same definition. The fields are documented in the README ("Run records").
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoints"
# A sweep invocation's private bookkeeping: <sweep_dir>/SWEEPS_DIR/<id>/, its id in SWEEP_ID_ENV
# for its jobs, locked (gatebench.run.lock) by the multirun's process while it runs.
SWEEPS_DIR = ".gatebench/sweeps"
SWEEP_ID_ENV = "GATEBENCH_SWEEP_ID"
# In a job folder of a sweep re-run with its arguments in another order: the folder of the run
# with this job's config, where the job trained (a job's identity is its config, not its number).
SAME_RUN_FILE = "same_run_as.txt"
STATUSES = ("solved", "finished", "diverged", "failed")
# Runs with these statuses produced a final metric that enters the statistics.
COMPLETED_STATUSES = ("solved", "finished")


def empty_record() -> dict[str, Any]:
    """A record with every schema key, null or empty where nothing is known yet."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_name": None,
        "launch_id": None,
        "variant": None,
        "variant_options": {},
        "task": {"name": None, "params": {}},
        "length": None,
        "seed": None,
        "status": None,
        "message": None,
        "steps": 0,
        "steps_to_solve": None,
        "metric": None,
        "metric_mode": None,
        "baseline": None,
        "final": {},
        "best": {},
        "test": {},
        "norm_loss": None,
        "params": None,
        "wall_time_s": None,
        "config": {},
        "versions": {},
        "git_commit": None,
    }


RECORD_KEYS = tuple(empty_record())
# Optional keys: where and how a run ran, and when (ISO-8601 UTC stamps of its start and end;
# `segments`: one entry per process that trained it, see gatebench.run.history).
EXTRA_KEYS = (
    "recurrent_params",
    "run_dir",
    "host",
    "pid",
    "torch_threads",
    "backend",
    "started_at",
    "ended_at",
    "diagnostics",
    "segments",
    # why training ended: solved | plateau | max_steps (null for diverged and failed runs)
    "stopped_by",
    # length generalisation: the tested lengths, the trivial baseline at each, one test block
    # per length ({"<L>": {"test/<name>": value}}; `test` is the block at `length`)
    "test_lengths",
    "test_baselines",
    "tests",
    # parameter matching (model.param_budget): the budget, and the hidden size it chose
    "param_budget",
    "hidden_size",
    # which layer outputs the readout saw: last | last_bidirectional | every | every_time_order
    # (see gatebench.training.model.readout_rule)
    "readout",
)


def check_record(record: dict[str, Any]) -> None:
    """Raise ValueError if `record` breaks the schema (status, required keys)."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"status={record.get('status')!r} is invalid: expected one of {STATUSES}")
    missing = set(RECORD_KEYS) - set(record)
    if missing:
        raise ValueError(f"results record lacks key(s) {sorted(missing)}")
