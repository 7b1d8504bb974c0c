"""A multirun's exit code: each job leaves its outcome in the sweep directory, and a Hydra
callback reads them when the multirun ends (after every job and the report) and sets the code.

Outcomes live in this sweep invocation's folder (`gatebench.sweep.invocation`):
`<sweep_dir>/.gatebench/sweeps/<id>/jobs/<job>.json` (`exit_code`, `message`, `status`), so a
re-run sweep, or two sweeps into one directory at once, each count their own jobs only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gatebench.config.validation import ConfigError
from gatebench.run import exit_codes
from gatebench.sweep import invocation

OUTCOMES_DIR = "jobs"


def outcome_path(sweep_dir: str | Path, job: str) -> Path:
    """Where this sweep invocation keeps the outcome of `job` (its folder name)."""
    return invocation.folder(sweep_dir) / OUTCOMES_DIR / f"{job}.json"


def write_outcome(
    cfg: DictConfig, code: int, message: str | None, status: str | None = None
) -> None:
    """Leave this multirun job's exit code, message and record status for `SweepExitStatus`
    and the progress lines."""
    from hydra.core.hydra_config import HydraConfig

    from gatebench.run.records import write_json_atomic

    name = Path(str(HydraConfig.get().runtime.output_dir)).name
    outcome = {"job": name, "exit_code": int(code), "message": message, "status": status}
    write_json_atomic(outcome_path(HydraConfig.get().sweep.dir, name), outcome)


def read_outcomes(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every job outcome this sweep invocation left (unreadable files count as failed jobs)."""
    outcomes = []
    for path in sorted((invocation.folder(sweep_dir) / OUTCOMES_DIR).glob("*.json")):
        try:
            outcomes.append(dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError) as error:
            failed = {"job": path.stem, "exit_code": exit_codes.FAILED, "message": str(error)}
            outcomes.append(failed)
    return outcomes


class SweepExitStatus(Callback):
    """Start this sweep invocation's private bookkeeping when a multirun starts; at its end,
    print the jobs that failed and set the exit code: FAILED when any job failed, hit a config
    error, was refused or found its folder locked (TERMINATED when one was stopped by SIGTERM)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from gatebench.sweep.tracked import refuse_tracked

        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        if sweep_dir:
            try:
                given = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
                refuse_tracked(sweep_dir, [str(o) for o in given])
            except ConfigError as error:  # before Hydra writes anything into the sweep dir
                sys.stderr.write(f"gatebench: error: {error}\n")
                sys.exit(exit_codes.CONFIG)
            invocation.begin(sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        outcomes = read_outcomes(sweep_dir) if sweep_dir else []
        ok = (exit_codes.OK, exit_codes.DIVERGED)
        failed = [o for o in outcomes if o.get("exit_code") not in ok]
        if failed:
            print(f"gatebench: {len(failed)} of {len(outcomes)} jobs failed:", file=sys.stderr)
            for outcome in failed:
                print(f"  {outcome.get('job')}: {outcome.get('message')}", file=sys.stderr)
        terminated = any(o.get("exit_code") == exit_codes.TERMINATED for o in failed)
        code = exit_codes.FAILED if failed else exit_codes.OK
        exit_codes.set_pending(exit_codes.TERMINATED if terminated else code)
        invocation.end()
