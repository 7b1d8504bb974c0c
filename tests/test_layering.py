"""The house's layering (docs/architecture.md), checked by walking every import statement.

Rooms of the runner, lowest first: `training` and `diagnostics` (1), `config` (2), `run` (3),
`sweep` (4), the entry points `train`, `diagnose`, `study` (5). A module may import its own room
and the rooms below it, never one above. `report` reads records only: no torch, no `variants`,
no `tasks`, no Lightning, and from the runner only the torch-free record modules. `variants`
and `tasks` know nothing of `gatebench`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {"training": 1, "diagnostics": 1, "config": 2, "run": 3, "sweep": 4,
        "train": 5, "diagnose": 5, "study": 5}
RECORD_MODULES = {"gatebench.run.schema", "gatebench.run.lock"}  # what the report may read
HEAVY = ("torch", "variants", "tasks", "pytorch_lightning", "lightning")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "gatebench" and len(parts) > 1 else None


def _is_module(name: str) -> bool:
    parts = name.split(".")
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


@pytest.mark.parametrize("package", ["variants", "tasks"])
def test_cells_and_tasks_never_import_the_runner(package: str) -> None:
    bad = {(_module(f), name) for f in _files(package) for name in _imports(f)
           if name.split(".")[0] == "gatebench"}
    assert not bad, f"{package} imports gatebench: {sorted(bad)}"


def _upward(path: Path, source: str) -> list[str]:
    """The imports of `path` (module `source`) that reach a room above the module's own."""
    room = _room(source)
    if room not in RANK:
        return []
    return [f"{source} -> {name}" for name in sorted(_imports(path))
            if _room(name) in RANK and RANK[_room(name)] > RANK[room]]


def test_no_room_imports_a_room_above_it() -> None:
    upward = [line for path in _files("gatebench") for line in _upward(path, _module(path))]
    assert not upward, "imports that run up the layers: " + ", ".join(upward)


def test_every_runner_module_lives_in_a_known_room() -> None:
    rooms = {_room(_module(p)) for p in _files("gatebench")} - {None}
    assert rooms <= set(RANK) | {"report"}, rooms - set(RANK)


def _closure(start: set[str]) -> set[str]:
    """Every gatebench module reachable from `start` by imports, and every import they make."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.split(".")[0] == "gatebench" and _is_module(name):
            base = ROOT.joinpath(*name.split("."))
            path = base.with_suffix(".py")
            path = path if path.exists() else base / "__init__.py"
            todo.extend(_imports(path))
    return seen


def test_report_reads_records_only_and_never_imports_torch() -> None:
    outside = set()
    for path in _files("gatebench/report"):
        for name in _imports(path):
            if name.split(".")[0] == "gatebench" and _room(name) != "report" and _is_module(name):
                outside.add(name)
    assert outside <= RECORD_MODULES, f"report imports {sorted(outside - RECORD_MODULES)}"
    start = {_module(p) for p in _files("gatebench/report")}
    heavy = sorted(n for n in _closure(start) if n.split(".")[0] in HEAVY)
    assert not heavy, f"the report reaches {heavy}"


def test_the_walk_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a `training` module importing `sweep` inside a function is upward;
    importing `training` from `run` is not."""
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from gatebench.sweep.status import X\n")
    assert _upward(fake, "gatebench.training.fake") == [
        "gatebench.training.fake -> gatebench.sweep.status",
        "gatebench.training.fake -> gatebench.sweep.status.X"]
    assert _upward(fake, "gatebench.train") == []  # an entry point may import any room
    fake.write_text("from gatebench.training.model import Model\n")
    assert _upward(fake, "gatebench.run.fake") == []
