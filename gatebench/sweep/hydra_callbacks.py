"""Hydra callback that ends every run and sweep by saying where its results are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def count_results(sweep_dir: Path, jobs: set[str] | None = None) -> dict[str, int]:
    """Runs under `sweep_dir` by results.json status (`missing` for job dirs without one,
    `invalid` for a file that is not a record); only the job folders named in `jobs` when given
    (one sweep's own, in a directory earlier sweeps also wrote to)."""
    from gatebench.run.resume import read_record

    counts: dict[str, int] = {}
    from gatebench.run.schema import SAME_RUN_FILE

    job_dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                and not (p / SAME_RUN_FILE).is_file()  # a re-ordered job: its run is elsewhere
                and (jobs is None or p.name in jobs)]
    for job_dir in sorted(job_dirs):
        path = job_dir / "results.json"
        record = read_record(path) if path.is_file() else {"status": "missing"}
        status = str(record.get("status") or "invalid") if record else "invalid"
        counts[status] = counts.get(status, 0) + 1
    return counts


class PrintRunLocation(Callback):
    """Print the run directory after a single run, the sweep directory after a multirun."""

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = OmegaConf.select(config, "hydra.runtime.output_dir", default=None)
        if run_dir and (Path(run_dir) / "results.json").is_file():
            print(f"gatebench: results in {Path(run_dir) / 'results.json'}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        if not sweep_dir or not Path(sweep_dir).is_dir():
            return
        counts = count_results(Path(sweep_dir))
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"gatebench: {sum(counts.values())} runs ({summary}); results in {sweep_dir}/")
        print(f"gatebench: each run: {sweep_dir}/<job>/results.json and metrics.csv")
