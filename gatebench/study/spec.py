"""A study spec: the YAML file that states a study before it runs (docs/studies.md).

    name: tiny
    dir: results/study_tiny          # the study directory (runs, study.yaml, report/)
    experiment: null                 # a conf/experiment preset every run starts from
    overrides: [data.batch_size=16]  # Hydra overrides every run gets
    cells: [rnn, gru, {label: rnn_pm, variant: rnn, overrides: [model.param_budget=900],
                       tasks: {adding: [10]}}]
    tasks: {adding: [10, 20]}        # conf/task preset -> lengths
    grid: {optimizer.lr: [0.003, 0.01, 0.03]}   # the tuning grid: any config keys
    tuning_seeds: [0, 1]             # select on these ...
    evaluation_seeds: [2, 3, 4]      # ... report these (disjoint from the tuning seeds)
    max_steps: 300
    selection: val_median
    plateau: null                    # off; or {patience: 16, min_delta: 0.01}
    extend_edges: false
    solved: default                  # or hs1997 (regression tasks: every val sequence in tol)
    reference: rnn                   # the exploratory tables' reference cell
    note: null                       # free text shown under the report's title
    primary:                         # the pre-registered comparisons
      - {cell: gru, against: rnn, task: adding, length: 20, endpoint: metric}

Every error is one line that names the key (`ValueError`). Pure Python and PyYAML: the presets
named here are checked against `conf/` by `gatebench.study.plan`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONF = Path(__file__).resolve().parent.parent.parent / "conf"
SELECTION_RULES = ("val_median", "steps_median")
SOLVED_CRITERIA = ("default", "hs1997")
ENDPOINTS = ("metric", "norm_loss", "solved", "steps")
# Keys the study sets itself: a grid or an override must not set them.
STUDY_KEYS = ("seed", "task.length", "variant", "task", "trainer.max_steps", "hydra.sweep.dir",
              "hydra.sweep.subdir")  # fmt: skip
# Keys that may change between invocations of one study: where and how it runs, not what.
MAY_DIFFER = ("dir", "launcher", "title", "note")
TOP_KEYS = {
    "name", "dir", "title", "experiment", "overrides", "cells", "tasks", "grid", "tuning_seeds",
    "evaluation_seeds", "max_steps", "selection", "plateau", "extend_edges", "solved",
    "reference", "primary", "launcher", "note",
}  # fmt: skip
REQUIRED = ("name", "cells", "tasks", "grid", "tuning_seeds", "evaluation_seeds", "max_steps",
            "primary")  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """One compared cell: a conf/variant preset, its label in the records and tables, the extra
    overrides it runs with, and the tasks (preset -> lengths) it runs on."""

    name: str
    variant: str
    overrides: tuple[str, ...]
    tasks: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Comparison:
    """A pre-registered comparison: `cell` against `against` on (task, length) on `endpoint`."""

    cell: str
    against: str
    task: str
    length: int
    endpoint: str

    @property
    def text(self) -> str:
        return f"{self.cell} vs {self.against}, {self.task} T = {self.length}, {self.endpoint}"


@dataclass
class Spec:
    """A validated study spec (`load_spec`); `raw` is the normalised mapping stored in the
    study directory and compared with it on every later invocation."""

    name: str
    dir: Path
    cells: list[Cell]
    tasks: dict[str, tuple[int, ...]]
    grid: dict[str, list[Any]]
    tuning_seeds: tuple[int, ...]
    evaluation_seeds: tuple[int, ...]
    max_steps: int
    primary: list[Comparison]
    experiment: str | None = None
    overrides: tuple[str, ...] = ()
    selection: str = "val_median"
    plateau: dict[str, Any] | None = None
    extend_edges: bool = False
    solved: str = "default"
    reference: str | None = None
    launcher: str | None = None
    title: str | None = None
    note: str | None = None  # free text shown under the report's title
    raw: dict[str, Any] = field(default_factory=dict)

    def cell(self, name: str) -> Cell:
        return next(c for c in self.cells if c.name == name)


def _where(source: str, key: str) -> str:
    return f"study spec {source}: {key}"


def _int_list(value: Any, key: str, source: str, low: int = 0) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{_where(source, key)}: expected a non-empty list of integers, got "
                         f"{value!r}")  # fmt: skip
    if any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in value):
        raise ValueError(f"{_where(source, key)}: expected integers >= {low}, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{_where(source, key)}: repeats a value in {value!r}")
    return tuple(value)


def _scalar(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string: numbers written so become floats."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _overrides(value: Any, key: str, source: str, grid: dict[str, Any]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise ValueError(f"{_where(source, key)}: expected a list of Hydra overrides KEY=VALUE, "
                         f"got {value!r}")  # fmt: skip
    for item in value:
        name = item.split("=", 1)[0].lstrip("+~")
        if name in STUDY_KEYS or name in grid:
            raise ValueError(f"{_where(source, key)}: {item!r} sets {name}, which the study "
                             "sets itself (seeds, lengths, cells, tasks, grid, max_steps)")
    return tuple(value)


def _tasks(value: Any, key: str, source: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{_where(source, key)}: expected a mapping of conf/task presets to "
                         f"lengths, e.g. {{adding: [100, 200]}}, got {value!r}")  # fmt: skip
    tasks = {}
    for task, lengths in value.items():
        if not (CONF / "task" / f"{task}.yaml").is_file():
            known = ", ".join(sorted(p.stem for p in (CONF / "task").glob("*.yaml")))
            raise ValueError(f"{_where(source, f'{key}.{task}')}: no conf/task preset {task!r} "
                             f"(known: {known})")  # fmt: skip
        tasks[str(task)] = _int_list(lengths, f"{key}.{task}", source, low=1)
    return tasks


def _cells(value: Any, tasks: dict[str, tuple[int, ...]], grid: dict[str, Any],
           source: str) -> list[Cell]:  # fmt: skip
    if not isinstance(value, list) or not value:
        raise ValueError(f"{_where(source, 'cells')}: expected a non-empty list of conf/variant "
                         "presets (or mappings with variant, label, overrides, tasks)")  # fmt: skip
    cells = []
    for i, item in enumerate(value):
        key = f"cells[{i}]"
        if isinstance(item, str):
            item = {"variant": item}
        if not isinstance(item, dict) or "variant" not in item:
            raise ValueError(f"{_where(source, key)}: expected a preset name or a mapping with "
                             f"'variant', got {item!r}")  # fmt: skip
        unknown = set(item) - {"variant", "label", "overrides", "tasks"}
        if unknown:
            raise ValueError(f"{_where(source, key)}: unknown key(s) {', '.join(sorted(unknown))}"
                             " (accepts variant, label, overrides, tasks)")  # fmt: skip
        variant = str(item["variant"])
        if not (CONF / "variant" / f"{variant}.yaml").is_file():
            known = ", ".join(sorted(p.stem for p in (CONF / "variant").glob("*.yaml")))
            raise ValueError(f"{_where(source, f'{key}.variant')}: no conf/variant preset "
                             f"{variant!r} (known: {known})")  # fmt: skip
        overrides = list(_overrides(item.get("overrides"), f"{key}.overrides", source, grid))
        label = item.get("label")
        if label is not None:
            overrides.insert(0, f"++variant.label={label}")
        own = tasks
        if item.get("tasks") is not None:
            own = _tasks(item["tasks"], f"{key}.tasks", source)
            for task in own:
                if task not in tasks:
                    raise ValueError(f"{_where(source, f'{key}.tasks.{task}')}: not one of the "
                                     f"study's tasks ({', '.join(tasks)})")  # fmt: skip
        cells.append(Cell(str(label or variant), variant, tuple(overrides), own))
    names = [c.name for c in cells]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{_where(source, 'cells')}: {', '.join(twice)} named twice (give one a "
                         "label)")  # fmt: skip
    return cells


def _grid(value: Any, source: str) -> dict[str, list[Any]]:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{_where(source, 'grid')}: expected a mapping of config keys to lists "
                         "of values, e.g. {optimizer.lr: [0.001, 0.003, 0.01]}")  # fmt: skip
    grid = {}
    for key, values in value.items():
        if key in STUDY_KEYS:
            raise ValueError(f"{_where(source, f'grid.{key}')}: set by the study itself")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{_where(source, f'grid.{key}')}: expected a non-empty list")
        values = [_scalar(v) for v in values]
        if any(isinstance(v, list | dict) for v in values):
            raise ValueError(f"{_where(source, f'grid.{key}')}: values must be scalars")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"{_where(source, f'grid.{key}')}: repeats a value in {values!r}")
        grid[str(key)] = values
    return grid


def _primary(value: Any, cells: list[Cell], source: str) -> list[Comparison]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{_where(source, 'primary')}: state at least one pre-registered "
                         "comparison {cell, against, task, length, endpoint}")  # fmt: skip
    by_name = {c.name: c for c in cells}
    comparisons = []
    for i, item in enumerate(value):
        key = f"primary[{i}]"
        need = {"cell", "against", "task", "length", "endpoint"}
        if not isinstance(item, dict) or set(item) != need:
            raise ValueError(f"{_where(source, key)}: expected exactly the keys "
                             f"{', '.join(sorted(need))}, got {item!r}")  # fmt: skip
        for side in ("cell", "against"):
            if item[side] not in by_name:
                raise ValueError(f"{_where(source, f'{key}.{side}')}: {item[side]!r} is not a "
                                 f"cell of the study ({', '.join(by_name)})")  # fmt: skip
        if item["cell"] == item["against"]:
            raise ValueError(f"{_where(source, key)}: compares {item['cell']} with itself")
        if item["endpoint"] not in ENDPOINTS:
            raise ValueError(f"{_where(source, f'{key}.endpoint')}: {item['endpoint']!r}; "
                             f"expected one of {', '.join(ENDPOINTS)}")  # fmt: skip
        for side in ("cell", "against"):
            lengths = by_name[item[side]].tasks.get(item["task"], ())
            if item["length"] not in lengths:
                raise ValueError(f"{_where(source, f'{key}.task')}: {item[side]} does not run "
                                 f"{item['task']} at T = {item['length']}")  # fmt: skip
        comparisons.append(Comparison(item["cell"], item["against"], str(item["task"]),
                                      int(item["length"]), item["endpoint"]))  # fmt: skip
    if len(set(comparisons)) != len(comparisons):
        raise ValueError(f"{_where(source, 'primary')}: states a comparison twice")
    return comparisons


def _plateau(value: Any, source: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"patience", "min_delta"} \
            or not isinstance(value.get("patience"), int) or value["patience"] < 1:
        raise ValueError(f"{_where(source, 'plateau')}: null (off, the default) or "
                         f"{{patience: N >= 1, min_delta: X}}, got {value!r}")  # fmt: skip
    return {"patience": value["patience"], "min_delta": float(value.get("min_delta", 0.01))}


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...], source: str) -> str:
    value = raw.get(key, choices[0])
    if value not in choices:
        raise ValueError(f"{_where(source, key)}: {value!r}; expected one of {', '.join(choices)}")
    return str(value)


def _cell_raw(cell: Cell) -> dict[str, Any]:
    """A cell as a spec writes it (so the stored study.yaml is itself a valid spec)."""
    own = f"++variant.label={cell.name}"
    labelled = cell.overrides[:1] == (own,)
    return {"variant": cell.variant, "label": cell.name if labelled else None,
            "overrides": list(cell.overrides[1:] if labelled else cell.overrides),
            "tasks": {t: list(n) for t, n in cell.tasks.items()}}  # fmt: skip


def parse_spec(raw: Any, source: str = "<spec>") -> Spec:
    """A `Spec` from the mapping a YAML file holds; a one-line ValueError naming the key when
    anything is missing, unknown or inconsistent."""
    if not isinstance(raw, dict):
        raise ValueError(f"study spec {source}: expected a YAML mapping, got {type(raw).__name__}")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ValueError(f"{_where(source, ', '.join(sorted(unknown)))}: unknown key (accepts "
                         f"{', '.join(sorted(TOP_KEYS))})")  # fmt: skip
    for key in REQUIRED:
        if raw.get(key) is None:
            raise ValueError(f"{_where(source, key)}: missing (required: {', '.join(REQUIRED)})")
    name = raw["name"]
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{_where(source, 'name')}: expected a plain name, got {name!r}")
    tuning = _int_list(raw["tuning_seeds"], "tuning_seeds", source)
    evaluation = _int_list(raw["evaluation_seeds"], "evaluation_seeds", source)
    shared = sorted(set(tuning) & set(evaluation))
    if shared:
        raise ValueError(
            f"study spec {source}: tuning_seeds and evaluation_seeds share seed(s) "
            f"{', '.join(map(str, shared))}: they must be disjoint (the reported runs never "
            "chose the setting)"
        )
    steps = raw["max_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{_where(source, 'max_steps')}: expected an integer >= 1, got {steps!r}")
    grid = _grid(raw["grid"], source)
    tasks = _tasks(raw["tasks"], "tasks", source)
    cells = _cells(raw["cells"], tasks, grid, source)
    reference = raw.get("reference", cells[0].name)
    if reference not in {c.name for c in cells}:
        raise ValueError(f"{_where(source, 'reference')}: {reference!r} is not a cell of the "
                         "study")  # fmt: skip
    if not isinstance(raw.get("extend_edges", False), bool):
        raise ValueError(f"{_where(source, 'extend_edges')}: expected true or false")
    experiment = raw.get("experiment")
    if experiment is not None and not (CONF / "experiment" / f"{experiment}.yaml").is_file():
        raise ValueError(f"{_where(source, 'experiment')}: no conf/experiment preset "
                         f"{experiment!r}")  # fmt: skip
    launcher = raw.get("launcher")
    if launcher is not None and not (CONF / "hydra" / "launcher" / f"{launcher}.yaml").is_file() \
            and launcher not in ("basic", "joblib", "submitit_slurm", "submitit_local"):
        raise ValueError(f"{_where(source, 'launcher')}: {launcher!r} is not a hydra/launcher "
                         "(basic, local, slurm, joblib, submitit_slurm)")  # fmt: skip
    normal = {
        "name": name, "experiment": experiment,
        "overrides": list(_overrides(raw.get("overrides"), "overrides", source, grid)),
        "cells": [_cell_raw(c) for c in cells],
        "tasks": {t: list(n) for t, n in tasks.items()}, "grid": grid,
        "tuning_seeds": list(tuning), "evaluation_seeds": list(evaluation), "max_steps": steps,
        "selection": _choice(raw, "selection", SELECTION_RULES, source),
        "plateau": _plateau(raw.get("plateau"), source),
        "extend_edges": bool(raw.get("extend_edges", False)),
        "solved": _choice(raw, "solved", SOLVED_CRITERIA, source), "reference": reference,
        "primary": [asdict(c) for c in _primary(raw["primary"], cells, source)],
        "dir": str(raw.get("dir") or f"results/{name}"), "launcher": launcher,
        "title": raw.get("title"), "note": raw.get("note"),
    }  # fmt: skip
    return Spec(
        name=name, dir=Path(normal["dir"]), cells=cells, tasks=tasks, grid=grid,
        tuning_seeds=tuning, evaluation_seeds=evaluation, max_steps=steps,
        primary=[Comparison(**c) for c in normal["primary"]], experiment=experiment,
        overrides=tuple(normal["overrides"]), selection=normal["selection"],
        plateau=normal["plateau"], extend_edges=normal["extend_edges"],
        solved=normal["solved"], reference=reference, launcher=launcher,
        title=normal["title"], note=normal["note"], raw=normal,
    )  # fmt: skip


def load_spec(path: str | Path, directory: str | Path | None = None) -> Spec:
    """The spec in the YAML file `path` (`directory` replaces its `dir`)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ValueError(f"study spec {path}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"study spec {path}: not valid YAML ({first})") from None
    if isinstance(raw, dict) and directory is not None:
        raw = {**raw, "dir": str(directory)}
    return parse_spec(raw, path.name)


def _first_difference(old: Any, new: Any, path: tuple = ()) -> tuple | None:
    """The path (keys and list positions) where two normalised specs first differ, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in list(old) + [k for k in new if k not in old]:
            if not path and name in MAY_DIFFER:
                continue
            found = _first_difference(old.get(name), new.get(name), (*path, name))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, (*path, i))
            if found:
                return found
        return None
    if isinstance(old, float) and isinstance(new, float) and math.isclose(old, new):
        return None
    return None if old == new else (path or ("<spec>",))


def _key_text(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _lookup(mapping: Any, path: tuple) -> Any:
    value = mapping
    for part in path:
        try:
            value = value[part]
        except (IndexError, KeyError, TypeError):
            return None
    return value


STORED = "study.yaml"


def _upgraded(stored: dict[str, Any]) -> dict[str, Any]:
    """A study.yaml stored by the first version of the tool (cells as {name, variant, overrides,
    tasks}) in today's form (cells as a spec writes them)."""
    cells = stored.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "name" in c for c in cells):
        return stored
    new = []
    for c in cells:
        overrides = tuple(c.get("overrides") or ())
        tasks = {t: tuple(n) for t, n in (c.get("tasks") or {}).items()}
        new.append(_cell_raw(Cell(c["name"], c["variant"], overrides, tasks)))
    return {**stored, "cells": new}


def check_stored(spec: Spec, write: bool = True) -> None:
    """Store the spec in its study directory (`write`), or refuse (one line naming the key) when
    the directory already holds a different one: a study's design does not change after it ran."""
    path = spec.dir / STORED
    if path.is_file():
        stored = _upgraded(yaml.safe_load(path.read_text()) or {})
        found = _first_difference(stored, spec.raw)
        if found:
            key = _key_text(found)
            old, new = _lookup(stored, found), _lookup(spec.raw, found)
            raise ValueError(
                f"study spec: {key} differs from the study already in {spec.dir} "
                f"({old!r} there, {new!r} now): a study's design is fixed once it ran; "
                "use a new dir (or restore the spec)"
            )
        return
    if not write:
        return
    spec.dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec.raw, sort_keys=False))
