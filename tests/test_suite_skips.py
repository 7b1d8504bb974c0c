"""The suite skips only for what a machine may lack (a GPU, an optional dependency): a hard
dependency (the package's requirements outside extras) or the project's own package is never
import-skipped."""

from __future__ import annotations

import ast
import re
from importlib.metadata import requires
from pathlib import Path

TESTS = Path(__file__).resolve().parent
OWN = ("gatebench", "variants", "tasks")


def _hard_dependencies() -> set[str]:
    deps = [d for d in requires("gatebench") or [] if "extra ==" not in d]
    names = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].strip().lower() for d in deps}
    return names | {n.replace("-", "_") for n in names}


def _import_skipped() -> list[tuple[str, str]]:
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "importorskip" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.append((path.name, str(node.args[0].value)))
    return found


def test_no_hard_dependency_or_own_module_is_import_skipped() -> None:
    hard = _hard_dependencies()
    assert {"torch", "wandb", "pytorch_lightning"} <= hard
    wrong = [(f, m) for f, m in _import_skipped()
             if m.split(".")[0].lower() in hard or m.split(".")[0] in OWN]
    assert not wrong, f"import-skips of required modules (make them plain imports): {wrong}"
