"""The study's jobs and the Hydra multiruns that run them.

A job is one run: (cell, task, length, setting of the grid, seed). Its directory in the study
directory is `<run_name>-<grid suffix>` (e.g. `lstm-adding-T100-s0-lr0.003`, as the reference
study's), so the tool can tell which jobs are final before it launches anything, and a re-run
launches nothing when every job is. Jobs that share everything but their lengths, grid values
and seeds are one multirun (`python -m gatebench.train -m ...`); cells without overrides share
one too (`variant=rnn,gru`), so a stage is few processes, and any Hydra launcher runs it.
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gatebench.run.resume import FINAL_STATUSES, read_record
from gatebench.run.schema import RESULTS_FILE
from gatebench.study.spec import CONF, Cell, Spec

# The study writes one report at the end: a multirun writes none of its own.
QUIET = ("~hydra.callbacks.report",)


@dataclass(frozen=True)
class Resolved:
    """What a (cell, task) is in the records: its label, the task's name, and whether the task
    is a regression task (its solved criterion can be H&S 1997's)."""

    label: str
    task_name: str
    regression: bool


@dataclass(frozen=True)
class Job:
    cell: str
    task: str  # the conf/task preset
    length: int
    setting: tuple[tuple[str, Any], ...]  # (grid key, value) in grid order
    seed: int


def value_text(value: Any) -> str:
    """A grid value as a Hydra override value and as OmegaConf renders it into a path."""
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)


def _path_text(value: Any) -> str:
    return "None" if value is None else str(value)


def suffix_names(grid: dict[str, list[Any]]) -> dict[str, str]:
    """Grid key -> its name in the job directory: the key's last part (`optimizer.lr` -> `lr`),
    or the whole key where two keys share one."""
    lasts = [k.split(".")[-1] for k in grid]
    return {k: (k.split(".")[-1] if lasts.count(k.split(".")[-1]) == 1 else k) for k in grid}


def subdir_pattern(grid: dict[str, list[Any]]) -> str:
    """`${run_name}-lr${optimizer.lr}`: the multirun's `hydra.sweep.subdir`."""
    names = suffix_names(grid)
    return "${run_name}" + "".join(f"-{names[k]}${{{k}}}" for k in grid)


@lru_cache(maxsize=256)
def _compose(overrides: tuple[str, ...]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("train", overrides=list(overrides))


LENGTH_TOKEN = re.compile(r"\{T(?:\*([0-9]*\.?[0-9]+))?\}")


def per_length(cell: Cell) -> bool:
    """Whether the cell's overrides name the length (`{T}`, `{T*1.5}`): one multirun per length."""
    return any(LENGTH_TOKEN.search(o) for o in cell.overrides)


def at_length(override: str, length: int) -> str:
    """`variant.chrono_t_max={T*1.5}` at T = 100 -> `variant.chrono_t_max=150` (rounded)."""
    return LENGTH_TOKEN.sub(
        lambda m: str(int(round(length * float(m.group(1) or 1.0)))), override
    )


def base_overrides(spec: Spec, cell: Cell, task: str, resolved: Resolved | None,
                   length: int | None = None) -> list[str]:  # fmt: skip
    """Every override a job of (cell, task) gets but its length, grid values and seed (`length`
    fills the cell's `{T}` tokens)."""
    out = [f"experiment={spec.experiment}"] if spec.experiment else []
    out += [f"variant={cell.variant}", f"task={task}", f"trainer.max_steps={spec.max_steps}"]
    if spec.plateau is None:
        out.append("plateau.patience=null")
    else:
        out += [f"plateau.patience={spec.plateau['patience']}",
                f"plateau.min_delta={spec.plateau['min_delta']}"]  # fmt: skip
    if spec.solved == "hs1997" and resolved is not None and resolved.regression:
        out += ["task.solved_tol_acc=1.0", "task.solved_norm_mse=null"]
    own = [at_length(o, length if length is not None else 1) for o in cell.overrides]
    return [*out, *spec.overrides, *own]


def resolve(spec: Spec) -> dict[tuple[str, str], Resolved]:
    """Compose each (cell, task) once (Hydra, no training): the label and task name its records
    carry. A grid key or override that is not a config key fails here, in one line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    first = [f"{k}={value_text(v[0])}" for k, v in spec.grid.items()]
    out: dict[tuple[str, str], Resolved] = {}
    for cell in spec.cells:
        for task in cell.tasks:
            length = cell.tasks[task][0]
            overrides = [*base_overrides(spec, cell, task, None, length), *first,
                         f"task.length={length}", "run_dir=/tmp/study"]
            try:
                cfg = _compose(tuple(overrides))
                label = str(cfg.variant_label)
            except (HydraException, OmegaConfBaseException) as error:
                line = str(error).strip().splitlines()[0]
                raise ValueError(f"study spec: cell {cell.name} on {task}: {line}") from None
            regression = "tolerance" in cfg.task
            out[(cell.name, task)] = Resolved(label, str(cfg.task.name), regression)
    by_name: dict[str, set[str]] = {}
    for (_, task), resolved in out.items():
        by_name.setdefault(resolved.task_name, set()).add(task)
    clash = {n: sorted(t) for n, t in by_name.items() if len(t) > 1}
    if clash:
        name, presets = next(iter(clash.items()))
        raise ValueError(f"study spec: tasks {' and '.join(presets)} both record the task name "
                         f"{name!r}: their tables would mix; keep one")  # fmt: skip
    labels = {(r.label, t) for (c, t), r in out.items()}
    if len(labels) != len(out):
        raise ValueError("study spec: cells: two cells record the same label; give one a label")
    return out


def settings(grid: dict[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    """Every point of the grid, in grid order."""
    keys = list(grid)
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def job_dir(spec: Spec, job: Job, resolved: Resolved) -> Path:
    names = suffix_names(spec.grid)
    suffix = "".join(f"-{names[k]}{_path_text(v)}" for k, v in job.setting)
    return spec.dir / f"{resolved.label}-{resolved.task_name}-T{job.length}-s{job.seed}{suffix}"


def is_final(path: Path, max_steps: int) -> bool:
    """The job's directory holds a final record (the sweep contract's rule, gatebench.run.resume:
    a re-run leaves it be)."""
    record = read_record(path / RESULTS_FILE)
    if record is None or record.get("status") not in FINAL_STATUSES:
        return False
    if record.get("stopped_by") == "plateau" or record.get("status") != "finished":
        return True
    steps = record.get("steps")
    return isinstance(steps, int) and steps >= max_steps


def tuning_jobs(spec: Spec, grid: dict[str, list[Any]]) -> list[Job]:
    return [
        Job(cell.name, task, length, setting, seed)
        for cell in spec.cells for task, lengths in cell.tasks.items() for length in lengths
        for setting in settings(grid) for seed in spec.tuning_seeds
    ]  # fmt: skip


@dataclass
class Multirun:
    """One `gatebench.train -m` invocation and the jobs it makes."""

    cells: list[str]
    task: str
    command: list[str]
    jobs: list[Job]


def _joined(values: list[Any]) -> str:
    return ",".join(value_text(v) for v in values)


def multiruns(spec: Spec, jobs: list[Job], resolved: dict[tuple[str, str], Resolved]
              ) -> list[Multirun]:  # fmt: skip
    """The jobs grouped into multiruns: per (cell, task, setting) the lengths and seeds, merged
    across settings when every length and seed is shared (a product), and across cells without
    overrides (`variant=a,b`) when everything else is equal."""
    groups: dict[tuple, dict[str, Any]] = {}
    for job in jobs:
        split = job.length if per_length(spec.cell(job.cell)) else None
        key = (job.cell, job.task, job.setting, split)
        group = groups.setdefault(key, {"lengths": [], "seeds": []})
        if job.length not in group["lengths"]:
            group["lengths"].append(job.length)
        if job.seed not in group["seeds"]:
            group["seeds"].append(job.seed)
    # merge the settings of one (cell, task) with equal lengths and seeds into a grid product
    products: dict[tuple, list[tuple]] = {}
    for (cell, task, setting, _), group in groups.items():
        shape = (cell, task, tuple(group["lengths"]), tuple(group["seeds"]))
        products.setdefault(shape, []).append(setting)
    merged: dict[tuple, list[str]] = {}
    for (cell, task, lengths, seeds), points in products.items():
        values = {k: list(dict.fromkeys(v for s in points for kk, v in s if kk == k))
                  for k, _ in points[0]}  # fmt: skip
        product = {tuple(zip(values, combo, strict=True)) for combo in
                   itertools.product(*values.values())}  # fmt: skip
        blocks = [values] if product == set(points) else [
            {k: [v] for k, v in point} for point in points
        ]
        for block in blocks:
            frozen = tuple((k, tuple(v)) for k, v in block.items())
            shareable = not spec.cell(cell).overrides
            key = (task, lengths, seeds, frozen, "" if shareable else cell)
            merged.setdefault(key, []).append(cell)
    runs = []
    for (task, lengths, seeds, frozen, _), cells in merged.items():
        cell = spec.cell(cells[0])
        command = [
            sys.executable, "-m", "gatebench.train", "-m",
            *base_overrides(spec, cell, task, resolved[(cell.name, task)], lengths[0]),
            f"task.length={_joined(list(lengths))}",
            *(f"{k}={_joined(list(v))}" for k, v in frozen),
            f"seed={_joined(list(seeds))}",
            f"hydra.sweep.dir={_shown(spec.dir)}",
            f"hydra.sweep.subdir={subdir_pattern(spec.grid)}", *QUIET,
        ]  # fmt: skip
        if len(cells) > 1:
            variants = ",".join(spec.cell(c).variant for c in cells)
            command = [f"variant={variants}" if a.startswith("variant=") else a for a in command]
        if spec.launcher:
            command.append(f"hydra/launcher={spec.launcher}")
        mine = [j for j in jobs if j.cell in cells and j.task == task and j.length in lengths
                and j.seed in seeds and all(v in dict(frozen)[k] for k, v in j.setting)]
        runs.append(Multirun(cells, task, command, mine))
    return runs


def _shown(path: Path) -> str:
    """`path` relative to the working directory when inside it (records then hold relative
    run dirs, as the committed studies' do)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())
