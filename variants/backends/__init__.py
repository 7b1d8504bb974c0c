"""Registry of engines that run a cell over a sequence; the layer's ``backend`` option picks one.

An engine is a ``run`` function ``(cell, x, state, weights, reverse, recurrent_mask) -> (outputs,
state)`` with the contract of `variants.engine.run_reference` (it must agree with it in tests),
and a ``supports(cell, x, recurrent_mask) -> None | reason`` that says, without running
anything, whether it can serve that request; a forced engine that cannot raises its reason as a
one-line ValueError, and `auto` (`variants.backends.auto`) takes the first engine of its
device's preference list that supports the cell. Engines never test a cell's class: they ask
the cell's fast-path hooks (`variants.cell.fast_path`).

Layout: `bptt/` (hand-written BPTT on CPU, its compiled C step), `triton/` (fused GPU kernels),
`torch_fused` (`cudnn`: torch's own op), `scan` (a parallel scan for recurrences
diagonal-linear in h), `auto`; shared by them: `autocast`, `kernel_table`
(the codes the compiled kernels read). `register_backend` adds one without touching any cell; a
``"module:attribute"`` string registers one lazily, so an optional dependency (e.g. triton) is
imported only when that engine is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from variants.cell import Carry, Cell
from variants.engine import LayerWeights, run_reference

Run = Callable[[Cell, Tensor, Carry, LayerWeights, bool, "Tensor | None"], tuple[Tensor, Carry]]
Supports = Callable[[Cell, Tensor, "Tensor | None"], "str | None"]


def _always(cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    return None


@dataclass(frozen=True)
class Engine:
    """A backend: how it runs a layer-direction and whether it can (None, or why not)."""

    run: Run
    supports: Supports = _always


BACKENDS: dict[str, Engine | str] = {"reference": Engine(run_reference)}


def register_backend(name: str, backend: Engine | Run | str) -> None:
    """Add (or replace) the backend called `name`: an `Engine`, a run function (which then
    supports every cell), or a lazy ``"module:attribute"`` naming either."""
    BACKENDS[name] = backend


def backend_names() -> list[str]:
    """Sorted names of the registered backends."""
    return sorted(BACKENDS)


def get_engine(name: object) -> Engine:
    """The engine called `name`; ValueError listing the registered ones otherwise."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not valid; accepted: {', '.join(backend_names())}")
    backend = BACKENDS[name]
    if isinstance(backend, str):
        module, _, attribute = backend.partition(":")
        backend = getattr(importlib.import_module(module), attribute)
    if not isinstance(backend, Engine):
        backend = Engine(backend)
    BACKENDS[name] = backend
    return backend


def get_backend(name: object) -> Run:
    """The run function of the backend called `name` (see `get_engine`)."""
    return get_engine(name).run


def supports(name: str, cell: Cell, x: Tensor, recurrent_mask: Tensor | None) -> str | None:
    """None when backend `name` can run `cell` on `x`; else the one-line reason."""
    return get_engine(name).supports(cell, x, recurrent_mask)


register_backend("bptt", "variants.backends.bptt.engine:ENGINE")
register_backend("native", "variants.backends.bptt.sequence:ENGINE")
register_backend("triton", "variants.backends.triton.engine:ENGINE")
register_backend("cudnn", "variants.backends.torch_fused:ENGINE")
register_backend("scan", "variants.backends.scan:ENGINE")
register_backend("auto", "variants.backends.auto:ENGINE")
