"""Read runs from W&B's public API into the same frame as run records on disk.

The conversion of one W&B run (config, summary, history) into a record is a pure function,
`record_from_wandb`; `load_wandb` is the thin API call around it (imports wandb only when used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from gatebench.report.records import RunRecords, build_records, filter_records

# results.json fields the runner copies into the W&B summary (docs/contracts.md, "runs").
RECORD_FIELDS = (
    "schema_version",
    "run_name",
    "launch_id",
    "variant",
    "variant_options",
    "task",
    "length",
    "seed",
    "status",
    "message",
    "steps",
    "steps_to_solve",
    "stopped_by",
    "metric",
    "metric_mode",
    "baseline",
    "final",
    "best",
    "test",
    "norm_loss",
    "params",
    "wall_time_s",
    "started_at",
    "ended_at",
    "versions",
    "git_commit",
)
STEP_KEYS = ("step", "trainer/global_step", "_step")


def _plain(value: Any) -> Any:
    """W&B's summary sub-dicts and config wrappers -> plain dicts (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _name_of(value: Any) -> Any:
    """A config group like `{"name": "lstm", ...}` -> "lstm"; a bare value stays."""
    if isinstance(value, Mapping):
        return value.get("name")
    return value


def record_from_wandb(
    config: Mapping[str, Any], summary: Mapping[str, Any], name: str | None = None
) -> dict[str, Any]:
    """A `results.json`-shaped dict from a W&B run's config and summary.

    Record fields are taken from the summary (the runner logs them there); `final`/`best`/`test`
    are rebuilt from flat `val/...`, `best:val/...` (or `val/..._best`) and `test/...` summary
    keys when the summary holds no such dicts. `variant`, `task`, `seed` fall back to the config
    (a group dict's `name`, or a bare value).
    """
    config = _plain(config)
    summary = _plain(summary)
    record: dict[str, Any] = {key: summary[key] for key in RECORD_FIELDS if key in summary}
    record.setdefault("run_name", name)
    if "variant" not in record and "variant" in config:
        record["variant"] = _name_of(config["variant"])
    if "task" not in record and "task" in config:
        task = config["task"]
        params = {k: v for k, v in task.items() if k != "name"} if isinstance(task, Mapping) else {}
        record["task"] = {"name": _name_of(task), "params": params}
    if "length" not in record and isinstance(record.get("task"), Mapping):
        record["length"] = record["task"].get("params", {}).get("length")
    if "seed" not in record and "seed" in config:
        record["seed"] = config["seed"]
    if "final" not in record:
        record["final"] = {
            k: v for k, v in summary.items() if k.startswith("val/") and not k.endswith("_best")
        }
    if "best" not in record:
        best = {k[len("best:") :]: v for k, v in summary.items() if k.startswith("best:")}
        best.update(
            {
                k[: -len("_best")]: v
                for k, v in summary.items()
                if k.startswith("val/") and k.endswith("_best")
            }
        )
        record["best"] = best
    if "test" not in record:
        record["test"] = {k: v for k, v in summary.items() if k.startswith("test/")}
    record["config"] = config
    return record


def metrics_from_history(history: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """W&B history rows -> the wide `metrics.csv` layout (a `step` column + metric columns).

    The step is the first of `step`, `trainer/global_step` (Lightning's WandbLogger), `_step`;
    W&B's own keys (`_runtime`, `_timestamp`, ...) and non-numeric values are dropped.
    """
    frame = pd.DataFrame(list(history))
    if frame.empty:
        return frame
    step_key = next((k for k in STEP_KEYS if k in frame.columns), None)
    if step_key is None:
        return pd.DataFrame()
    metrics = [c for c in frame.columns if c not in STEP_KEYS and not c.startswith("_")]
    wide = frame[metrics].apply(pd.to_numeric, errors="coerce")
    wide = wide.loc[:, wide.notna().any()]
    wide.insert(0, "step", pd.to_numeric(frame[step_key], errors="coerce"))
    return wide[wide["step"].notna()]


def load_wandb(project: str, filters: Mapping[str, str] | None = None) -> RunRecords:
    """All runs of W&B `ENTITY/PROJECT` (filtered on run columns before history is fetched).

    Untested against a live server: the conversion functions above carry the logic and are
    tested with real dicts.
    """
    if project.count("/") != 1 or not all(project.split("/")):
        raise ValueError(f"--wandb {project!r}: expected ENTITY/PROJECT")
    import wandb

    api_runs = list(wandb.Api().runs(project))
    heads = build_records(
        (record_from_wandb(r.config, r.summary, r.name), f"wandb:{project}/{r.id}", pd.DataFrame())
        for r in api_runs
    )
    if heads.runs.empty:
        raise ValueError(f"--wandb {project!r}: the project holds no runs")
    kept = set(filter_records(heads, filters or {}).runs["source"])
    by_source = {f"wandb:{project}/{r.id}": r for r in api_runs}
    return build_records(
        (
            record_from_wandb(run.config, run.summary, run.name),
            source,
            metrics_from_history(run.scan_history()),
        )
        for source, run in by_source.items()
        if source in kept
    )
