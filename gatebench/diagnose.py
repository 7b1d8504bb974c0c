"""`python -m gatebench.diagnose RUN_DIR...`: diagnostics of finished runs, without retraining.

For each run directory: load the cells and tasks the run imported (entry points and its
`imports`), rebuild the model from the run's config and seed (its initial weights, exactly as
`gatebench.train` built them), measure it ("init"), load the final weights from
`checkpoints/last.ckpt`, measure again ("end"), write `diagnostics.npz` beside `results.json`
and the summaries into `results.json` under `diagnostics` (every other key unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gatebench.run.records import RESULTS_FILE

CHECKPOINT = Path("checkpoints") / "last.ckpt"


class DiagnoseError(ValueError):
    """A run directory that cannot be diagnosed; one line naming the path."""


def _load_record(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DiagnoseError(f"{path}: no results.json (not a finished gatebench run)") from error
    except (OSError, ValueError) as error:
        raise DiagnoseError(f"{path}: unreadable results.json ({error})") from error
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise DiagnoseError(f"{path}: results.json holds no run config")
    return record


def _load_weights(run_dir: Path) -> tuple[dict[str, Any], int]:
    import torch

    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise DiagnoseError(f"{path}: no checkpoint (expected the run's checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        return checkpoint["state_dict"], int(checkpoint.get("global_step", -1))
    except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is one error line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DiagnoseError(f"{path}: corrupted checkpoint ({reason})") from error


def diagnose_run(run_dir: str | Path, batch_size: int = 64) -> dict[str, Any]:
    """Diagnose one finished run; returns the summary also written into its results.json."""
    from omegaconf import OmegaConf

    from gatebench.config.build import build_task_and_model
    from gatebench.config.plugins import load_plugins
    from gatebench.diagnostics.snapshot import fixed_batch, marked_positions, snapshot
    from gatebench.diagnostics.store import (
        DIAGNOSTICS_FILE,
        snapshot_arrays,
        write_npz_atomic,
    )
    from gatebench.run.records import write_json_atomic

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DiagnoseError(f"{run_dir}: not a directory")
    record = _load_record(run_dir)
    state_dict, ckpt_step = _load_weights(run_dir)
    load_plugins(record["config"].get("imports"))  # its user cells and tasks, as training did
    cfg = OmegaConf.create(record["config"])
    task, model = build_task_and_model(cfg)  # seeds exactly as training did: the initial weights
    batch = fixed_batch(task, batch_size)
    shots = [snapshot(model, task, batch, 0, "init")]
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise DiagnoseError(f"{run_dir / CHECKPOINT}: does not fit the run's model ({first})") \
            from error
    shots.append(snapshot(model, task, batch, ckpt_step, "end"))
    inputs, readout = marked_positions(task, batch)
    arrays = snapshot_arrays(shots, inputs.numpy(), readout.numpy(), model.layer.cell)
    write_npz_atomic(run_dir / DIAGNOSTICS_FILE, arrays)
    summary = {
        "file": DIAGNOSTICS_FILE,
        "batch_size": int(batch[0].shape[0]),
        "batch": "validation stream of seed 0, batch_size sequences",
        "source": "gatebench.diagnose (init from the seed, end from checkpoints/last.ckpt)",
        "snapshots": [s.summary() for s in shots],
    }
    if record.get("steps") is not None and ckpt_step != record["steps"]:
        summary["note"] = (f"the checkpoint is from step {ckpt_step}, the run ended at step "
                           f"{record['steps']} (a run from before last.ckpt was written at the "
                           "end of training)")
        print(f"gatebench.diagnose: warning: {run_dir}: {summary['note']}", file=sys.stderr)
    record["diagnostics"] = summary
    write_json_atomic(run_dir / RESULTS_FILE, record)
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 1 with one line per run that could not be diagnosed."""
    parser = argparse.ArgumentParser(prog="python -m gatebench.diagnose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="sequences of the fixed validation batch (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be an integer >= 1, got {args.batch_size}")
    import torch

    torch.set_num_threads(max(1, args.threads))
    failed = 0
    for run_dir in args.run_dirs:
        try:
            summary = diagnose_run(run_dir, args.batch_size)
        except DiagnoseError as error:
            print(f"gatebench.diagnose: error: {error}", file=sys.stderr)
            failed += 1
            continue
        except Exception as error:  # noqa: BLE001 - one line per run, then the next run
            reason = (str(error).strip().splitlines() or [""])[0]
            print(f"gatebench.diagnose: error: {run_dir}: {type(error).__name__}: {reason}",
                  file=sys.stderr)
            failed += 1
            continue
        end = summary["snapshots"][-1]
        print(f"{run_dir}: diagnostics.npz written; end grad_ratio_h={end.get('grad_ratio_h')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
