"""Cells and tasks from other packages: Python entry points (groups `gatebench.variants`,
`gatebench.tasks`) and the config key `imports: [module, ...]`, loaded by every job (in its own
process under joblib or submitit) before it builds anything."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from importlib.metadata import entry_points

from gatebench.config.validation import ConfigError

GROUPS = ("gatebench.variants", "gatebench.tasks")


def _registered(group: str) -> list[str]:
    if group == "gatebench.variants":
        import variants

        return variants.names()
    import tasks

    return tasks.names()


def load_entry_points() -> list[str]:
    """Load every entry point of GROUPS (importing a cell or task class registers it by its
    `name`); return `group:name` of those loaded. An entry point that fails to load, or that
    registers no cell/task of its own name, is a one-line warning, not a crash of every run."""
    loaded = []
    for group in GROUPS:
        for point in entry_points(group=group):
            try:
                point.load()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not stop other runs
                warnings.warn(
                    f"entry point {point.name!r} ({point.value}) of group {group} failed to load: "
                    f"{type(error).__name__}: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            if point.name not in _registered(group):
                warnings.warn(
                    f"entry point {point.name!r} ({point.value}) of group {group} registered no "
                    f"{group.split('.')[1][:-1]} named {point.name!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            loaded.append(f"{group}:{point.name}")
    return loaded


def import_modules(modules: Sequence[str] | None) -> None:
    """Import each module of the config key `imports` (ConfigError if one cannot be imported)."""
    if modules is None:
        return
    if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
        raise ConfigError(f"imports={modules!r} is invalid: expected a list of module names")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"imports: cannot import {module!r}: {error}") from error


def load_plugins(modules: Sequence[str] | None) -> None:
    """Entry points first, then the `imports` modules."""
    load_entry_points()
    import_modules(modules)
