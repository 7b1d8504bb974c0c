"""Read run records (`results.json`, `metrics.csv`) into a tidy runs frame and long curves.

The record schema is `gatebench.run.schema` (documented in `docs/contracts.md`). This module imports
pandas only (never torch, `variants` or `tasks`), so reading a thousand runs starts in a second.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gatebench.run.schema import (  # noqa: F401 - statuses re-exported for the report
    CHECKPOINT_DIR,
    COMPLETED_STATUSES,
    METRICS_FILE,
    RESULTS_FILE,
    SAME_RUN_FILE,
    STATUSES,
)

# Config keys that do not make a run another run (where and how it ran): two records equal in
# every other key are one run recorded twice, and count once.
NOT_IDENTITY = ("run_dir", "ckpt_path", "threads", "logger")

CURVE_COLUMNS = ["source", "task", "length", "variant", "seed", "status", "step", "metric", "value"]


@dataclass
class RunRecords:
    """All runs read from disk or W&B: `runs` has one row per run, `curves` is long format.

    `curves` columns: source, task, length, variant, seed, status, step, metric, value.
    `notes` lists what the reader saw but could not turn into a run (e.g. a job without a record).
    """

    runs: pd.DataFrame
    curves: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _finite_or_none(value: Any) -> float | None:
    """A float, or None for null/NaN/inf/non-numbers (JSON writes NaN as NaN or null)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _metric_key(metric: str) -> str:
    """The `final` key of a primary metric: `mse` -> `val/mse`; a prefixed name stays."""
    return metric if "/" in metric else f"val/{metric}"


def _flatten(prefix: str, mapping: Any) -> dict[str, Any]:
    """Nested dicts -> `prefix.a.b` keys; lists/tuples become JSON strings."""
    flat: dict[str, Any] = {}
    if not isinstance(mapping, Mapping):
        return flat
    for key, value in mapping.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(name, value))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(list(value), default=str)
        else:
            flat[name] = value
    return flat


def parse_stamp(value: Any) -> float | None:
    """An ISO-8601 time stamp (`2026-11-27T04:10:00Z`, `+00:00`) as epoch seconds; None when
    absent or unreadable. A stamp without a zone is read as UTC, as the runner writes them."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def _stamp_problems(record: Mapping[str, Any]) -> str | None:
    """`unreadable started_at '...'` for a stamp that is present but not ISO-8601; else None."""
    bad = [
        f"unreadable {key} {record[key]!r} (expected ISO-8601, e.g. 2026-11-27T04:10:00Z)"
        for key in ("started_at", "ended_at")
        if record.get(key) not in (None, "") and parse_stamp(record.get(key)) is None
    ]
    return "; ".join(bad) or None


def _task_name(task: Any) -> str | None:
    """`task` may be `{"name": ..., "params": ...}` (the contract) or a bare name."""
    if isinstance(task, Mapping):
        return task.get("name")
    return task


def test_blocks(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(`test` at the training length, `tests` one block per length) of a record.

    A record written before `tests` existed keeps its one block in `test`; if its config set
    `data.test_length` to another length L, that block is at L and its `test/norm_loss` was
    divided by the baseline at the training length (the bug fixed with `tests`): the block is
    moved to `tests["L"]` without its norm_loss, and `test` is empty (the report then compares
    validation values), rather than a wrong number.
    """
    test = dict(record.get("test") or {})
    tests = record.get("tests")
    if isinstance(tests, Mapping):
        return test, {str(k): dict(v) for k, v in tests.items() if isinstance(v, Mapping)}
    config = record.get("config") if isinstance(record.get("config"), Mapping) else {}
    data = config.get("data") if isinstance(config.get("data"), Mapping) else {}
    other = data.get("test_length")
    length = record.get("length")
    if other is None or length is None or int(other) == int(length) or not test:
        return test, ({str(length): test} if test and length is not None else {})
    moved = {k: v for k, v in test.items() if k != "test/norm_loss"}
    return {}, {str(int(other)): moved}


def row_from_record(record: Mapping[str, Any], source: str) -> dict[str, Any]:
    """One tidy row from a `results.json` dict: coordinates, status, the final primary metric.

    `final_metric` is `final["val/<metric>"]`; where the record names no metric, the metric is
    `norm_loss` (lower is better). `norm_loss` falls back to `final["val/norm_loss"]`.
    `variant` is the run's label (`variant_label` of the record or its config, e.g. `lstm_fb1`)
    and `variant_name` the registry cell. Columns from `final` and `test` keep their names
    (`val/mse`, `test/mse`), `best` ones get a `best:` prefix, each test length's block
    becomes `tests.<L>.test/<name>` columns (`test_blocks`), and the resolved config is
    flattened into `config.*` columns.
    """
    final = dict(record.get("final") or {})
    best = dict(record.get("best") or {})
    test, tests = test_blocks(record)
    metric = record.get("metric") or "norm_loss"
    mode = record.get("metric_mode") or "min"
    if not record.get("metric"):
        mode = "min"
    norm_loss = _finite_or_none(record.get("norm_loss"))
    if norm_loss is None:
        norm_loss = _finite_or_none(final.get("val/norm_loss"))
    final_metric = _finite_or_none(final.get(_metric_key(metric)))
    if final_metric is None and metric == "norm_loss":
        final_metric = norm_loss
    task = record.get("task")
    task_params = task.get("params", {}) if isinstance(task, Mapping) else {}
    length = record.get("length", task_params.get("length"))
    variant_options = record.get("variant_options") or {}
    config = record.get("config") if isinstance(record.get("config"), Mapping) else {}
    # A preset such as lstm_fb1 is the registry cell `lstm` with options; its label names it.
    label = record.get("variant_label") or config.get("variant_label") or record.get("variant")
    row: dict[str, Any] = {
        "source": source,
        "run_name": record.get("run_name"),
        "launch_id": record.get("launch_id"),
        "task": _task_name(task),
        "length": int(length) if _finite_or_none(length) is not None else None,
        "variant": label,
        "variant_name": record.get("variant"),
        "seed": record.get("seed"),
        "status": record.get("status") or "failed",
        "message": record.get("message"),
        "metric": metric,
        "metric_mode": mode,
        "final_metric": final_metric,
        "best_metric": _finite_or_none(best.get(_metric_key(metric))),
        "test_metric": _finite_or_none(test.get("test/" + metric.split("/")[-1])),
        "norm_loss": norm_loss,
        "test_norm_loss": _finite_or_none(test.get("test/norm_loss")),
        "baseline": _finite_or_none(record.get("baseline")),
        "steps": record.get("steps"),
        "steps_to_solve": _finite_or_none(record.get("steps_to_solve")),
        "stopped_by": record.get("stopped_by"),
        "params": _finite_or_none(record.get("params")),
        "recurrent_params": _finite_or_none(record.get("recurrent_params")),
        "wall_time_s": _finite_or_none(record.get("wall_time_s")),
        "record_problems": _stamp_problems(record),
        "started_at": parse_stamp(record.get("started_at")),
        "ended_at": parse_stamp(record.get("ended_at")),
        "hidden_size": variant_options.get("hidden_size"),
        "variant_options": json.dumps(variant_options, sort_keys=True, default=str),
        "task_params": json.dumps(task_params, sort_keys=True, default=str),
        "git_commit": record.get("git_commit"),
    }
    row.update({key: _finite_or_none(value) for key, value in final.items()})
    row.update({f"best:{key}": _finite_or_none(value) for key, value in best.items()})
    row.update({key: _finite_or_none(value) for key, value in test.items()})
    for test_length, block in tests.items():
        row.update({f"tests.{test_length}.{k}": _finite_or_none(v) for k, v in block.items()})
    row["param_budget"] = record.get("param_budget")
    row.update(_flatten("versions", record.get("versions")))
    row.update(_flatten("config", record.get("config")))
    return row


def read_metrics_csv(path: Path) -> pd.DataFrame:
    """The wide per-step metrics of one run; an empty frame when the file is missing or empty."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    return frame


def curves_from_wide(wides: list[pd.DataFrame], runs: pd.DataFrame) -> pd.DataFrame:
    """Melt every run's wide metrics (a `step` column + one column per metric) into long rows.

    `wides[i]` carries a `_run` column: the position of its run in `runs`, whose coordinates
    are copied onto each row. Rows without a finite value (a metric not logged at that step)
    are dropped. One concat and one melt for all runs: a thousand runs take about a second.
    """
    if not wides:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    wide = pd.concat(wides, ignore_index=True, sort=False)
    metric_columns = [c for c in wide.columns if c not in ("step", "_run")]
    numeric = wide[metric_columns].apply(pd.to_numeric, errors="coerce")
    numeric.insert(0, "step", pd.to_numeric(wide["step"], errors="coerce"))
    numeric.insert(0, "_run", wide["_run"])
    long = numeric.melt(id_vars=["_run", "step"], var_name="metric", value_name="value")
    finite = long["value"].notna() & long["step"].notna()
    long = long[finite & ~long["value"].isin([math.inf, -math.inf])]
    positions = long["_run"].to_numpy()
    for key in ("source", "task", "length", "variant", "seed", "status"):
        long[key] = runs[key].to_numpy()[positions]
    long["step"] = long["step"].astype("int64")
    return (
        long[CURVE_COLUMNS]
        .sort_values(["source", "metric", "step"], kind="stable")
        .reset_index(drop=True)
    )


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Every directory under PATHs that holds a `results.json` (a PATH may be the file itself)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.name == RESULTS_FILE:
            found.append(path.parent)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob(RESULTS_FILE)))
        else:
            raise ValueError(f"PATH {str(path)!r} is neither a directory nor a {RESULTS_FILE}")
    unique = list(dict.fromkeys(found))
    return unique


def _job_folder_note(job: Path) -> str:
    """What a job folder without a run record is: still running, killed, or never started."""
    from gatebench.run.lock import holder

    if (job / SAME_RUN_FILE).is_file():
        same = (job / SAME_RUN_FILE).read_text().strip()
        return f"job of a sweep re-run in another order: its run is {same}: {job}"
    running = holder(job)
    if running:
        return f"job still running ({running}), no record yet: {job}"
    if (job / CHECKPOINT_DIR / "last.ckpt").is_file():
        return f"job killed after a checkpoint (re-run the sweep to resume it): {job}"
    if (job / ".hydra").is_dir():
        return f"job stopped before its first checkpoint (killed, or see its log): {job}"
    if not any(job.iterdir()):
        return f"empty job folder (the job never started): {job}"
    return f"folder without a run record: {job}"


def _jobs_without_record(paths: Iterable[str | Path], run_dirs: set[Path]) -> list[str]:
    """Hydra job folders (holding `.hydra/`) under PATHs, and the folders of a sweep directory,
    that hold no `results.json`, each with what it is."""
    missing: dict[Path, str] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            continue
        jobs = [h.parent for h in path.rglob(".hydra")]
        if (path / "multirun.yaml").is_file():  # a sweep: every visible sub-folder is a job
            jobs += [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for job in sorted(set(jobs)):
            if job not in run_dirs and not (job / "multirun.yaml").exists():
                missing[job] = _job_folder_note(job)
    return list(missing.values())


def record_problem(record: Any, row: Mapping[str, Any] | None = None) -> str | None:
    """Why `record` (a parsed results.json) is not a run the report can use, or None. `row` is
    its `row_from_record` row, checked for the coordinates and, for a completed run, the final
    metric (without which it could only be averaged in wrongly)."""
    if not isinstance(record, Mapping):
        return f"not a JSON object but {type(record).__name__}"
    status = record.get("status")
    if status is None:
        return "no status"
    if status not in STATUSES:
        return f"status={status!r} is not one of {', '.join(STATUSES)}"
    row = row if row is not None else row_from_record(record, "")
    for key in ("task", "variant"):
        if not isinstance(row.get(key), str) or not row.get(key):
            return f"no {key} ({status}: {record.get('message')})"
    if row.get("length") is None or row["length"] < 1:
        return f"length={record.get('length')!r} is not a positive integer"
    if status in COMPLETED_STATUSES and row.get("final_metric") is None:
        return f"status {status!r} but no final {_metric_key(row['metric'])} value"
    return None


FLOAT_COLUMNS = (
    "final_metric", "best_metric", "test_metric", "norm_loss", "test_norm_loss", "baseline",
    "steps_to_solve",
    "params", "recurrent_params", "wall_time_s", "started_at", "ended_at",
)  # fmt: skip
INT_COLUMNS = ("length", "seed", "steps")


def _typed(runs: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float (NaN for missing), coordinates as nullable integers."""
    if runs.empty:
        return runs
    metric_columns = [c for c in runs.columns if c.split(":")[-1].startswith(("val/", "test/"))]
    for column in (*FLOAT_COLUMNS, *metric_columns):
        if column in runs.columns:
            runs[column] = pd.to_numeric(runs[column], errors="coerce").astype(float)
    for column in INT_COLUMNS:
        values = pd.to_numeric(runs[column], errors="coerce")
        whole = values.dropna()
        if (whole == whole.round()).all():
            runs[column] = values.astype("Int64")
    return runs


def build_records(items: Iterable[tuple[Mapping[str, Any], str, pd.DataFrame]]) -> RunRecords:
    """RunRecords from `(record dict, source, wide metrics)` triples, whatever their origin."""
    rows, wides = [], []
    for position, (record, source, wide) in enumerate(items):
        rows.append(row_from_record(record, source))
        if not wide.empty and "step" in wide.columns:
            wides.append(wide.assign(_run=position))
    runs = _typed(pd.DataFrame(rows))
    return RunRecords(runs=runs, curves=curves_from_wide(wides, runs))


def run_identity(record: Mapping[str, Any]) -> str | None:
    """A record's config without the keys that do not make it another run (NOT_IDENTITY), with
    its variant, task, length and seed, as canonical JSON; None without a config."""
    config = record.get("config")
    if not isinstance(config, Mapping):
        return None
    kept = {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    coordinates = [record.get(k) for k in ("variant", "task", "length", "seed")]
    return json.dumps([kept, coordinates], sort_keys=True, default=str)


def load_runs(paths: Iterable[str | Path]) -> RunRecords:
    """Read every run record under PATHs (sweep or run directories, walked recursively).

    A file that is not a valid record (unreadable, not an object, no or unknown status, no
    task/variant/length, a completed run without its final metric) gives no row: it is listed
    in `notes` by path with the reason, as is an unreadable metrics.csv (the run is kept without
    its curve), every job folder without a record (running, killed, empty), and a record whose
    config equals an earlier one's (the same run twice: counted once, never as two seeds).
    `started_at`/`ended_at` (epoch s) come from the records' ISO-8601 stamps, NaN where a record
    has none: never from file times, which a copy or a clone resets.
    Raises ValueError when no valid record is found.
    """
    paths = list(paths)
    run_dirs = find_run_dirs(paths)
    if not run_dirs:
        shown = " ".join(str(p) for p in paths)
        raise ValueError(f"no run records ({RESULTS_FILE}) found under: {shown}")

    notes: list[str] = []
    used: list[Path] = []
    seen: dict[str, Path] = {}

    def items() -> Iterable[tuple[Mapping[str, Any], str, pd.DataFrame]]:
        for run_dir in run_dirs:
            path = run_dir / RESULTS_FILE
            try:
                record: Any = json.loads(path.read_text())
                problem = record_problem(record)
            except (OSError, ValueError) as error:
                problem = f"unreadable: {error}"
            if problem:
                notes.append(f"invalid record {path}: {problem}")
                continue
            identity = run_identity(record)
            if identity is not None and identity in seen:
                notes.append(f"same config as {seen[identity]} (one run counted once, never as "
                             f"two seeds): {run_dir}")
                continue
            if identity is not None:
                seen[identity] = run_dir
            try:
                wide = read_metrics_csv(run_dir / METRICS_FILE)
            except (OSError, ValueError, UnicodeDecodeError) as error:
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                notes.append(f"unreadable {run_dir / METRICS_FILE} (run kept, no curve): {reason}")
                wide = pd.DataFrame()
            used.append(run_dir)
            yield record, str(run_dir), wide

    records = build_records(items())
    if not used:
        shown = "; ".join(notes)
        raise ValueError(f"no valid run record ({RESULTS_FILE}) under {paths}: {shown}")
    records.notes.extend(notes)
    records.notes.extend(_jobs_without_record(paths, set(run_dirs)))
    return records


def apply_filters(runs: pd.DataFrame, filters: Mapping[str, str]) -> pd.DataFrame:
    """Keep runs whose column KEY equals VALUE (or one of a comma-separated list of values)."""
    kept = runs
    for key, value in filters.items():
        if key not in runs.columns:
            known = ", ".join(c for c in runs.columns if not c.startswith(("config.", "best:")))
            raise ValueError(f"--filter: unknown key {key!r}; use a run column such as {known}")
        wanted = set(value.split(","))
        kept = kept[kept[key].astype(str).isin(wanted)]
    return kept


def filter_records(records: RunRecords, filters: Mapping[str, str]) -> RunRecords:
    """The runs (and their curves) that pass `apply_filters`."""
    if not filters:
        return records
    runs = apply_filters(records.runs, filters)
    curves = records.curves[records.curves["source"].isin(set(runs["source"]))]
    return RunRecords(runs=runs.reset_index(drop=True), curves=curves, notes=list(records.notes))


def parse_filters(pairs: Iterable[str]) -> dict[str, str]:
    """`["task=adding", "length=100,200"]` -> `{"task": "adding", "length": "100,200"}`."""
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"--filter {pair!r}: expected KEY=VALUE (e.g. task=adding)")
        filters[key.strip()] = value.strip()
    return filters
