"""A multirun's exit code: each job leaves its outcome in the sweep directory, and a Hydra
callback reads them when the multirun ends (after every job and the report) and sets the code.

Outcomes live in `<sweep_dir>/.gatebench/jobs/<job>.json` (`exit_code`, `message`); the folder
is cleared when a multirun starts, so a re-run sweep counts its own jobs only.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gatebench.run import exit_codes

OUTCOMES_DIR = Path(".gatebench") / "jobs"


def write_outcome(cfg: DictConfig, code: int, message: str | None) -> None:
    """Leave this multirun job's exit code and message for `SweepExitStatus`."""
    from hydra.core.hydra_config import HydraConfig

    from gatebench.run.records import write_json_atomic

    name = Path(cfg.run_dir).name
    outcome = {"job": name, "exit_code": int(code), "message": message}
    write_json_atomic(Path(HydraConfig.get().sweep.dir) / OUTCOMES_DIR / f"{name}.json", outcome)


def read_outcomes(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every job outcome left in `sweep_dir` (unreadable files count as failed jobs)."""
    outcomes = []
    for path in sorted((Path(sweep_dir) / OUTCOMES_DIR).glob("*.json")):
        try:
            outcomes.append(dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError) as error:
            failed = {"job": path.stem, "exit_code": exit_codes.FAILED, "message": str(error)}
            outcomes.append(failed)
    return outcomes


class SweepExitStatus(Callback):
    """Clear the outcomes when a multirun starts; at its end, print the jobs that failed and set
    the exit code: FAILED when any job failed, hit a config error or found its folder locked."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        if sweep_dir:
            shutil.rmtree(Path(sweep_dir) / OUTCOMES_DIR, ignore_errors=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        outcomes = read_outcomes(sweep_dir) if sweep_dir else []
        ok = (exit_codes.OK, exit_codes.DIVERGED)
        failed = [o for o in outcomes if o.get("exit_code") not in ok]
        if failed:
            print(f"gatebench: {len(failed)} of {len(outcomes)} jobs failed:", file=sys.stderr)
            for outcome in failed:
                print(f"  {outcome.get('job')}: {outcome.get('message')}", file=sys.stderr)
        exit_codes.set_pending(exit_codes.FAILED if failed else exit_codes.OK)
