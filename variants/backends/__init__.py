"""Registry of engines that run a cell over a sequence; the layer's ``backend`` option picks one.

A backend is a function ``(cell, x, state, weights, reverse, recurrent_mask) -> (outputs, state)``
with the contract of `variants.engine.run_reference`, and must agree with it in tests. Backends
live in this package (``variants/backends/<name>.py``) and are added with `register_backend`
without touching any cell; a ``"module:function"`` string registers one lazily, so an optional
dependency (e.g. triton) is imported only when that backend is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import Tensor

from variants.cell import Carry, Cell
from variants.engine import LayerWeights, run_reference

Backend = Callable[[Cell, Tensor, Carry, LayerWeights, bool, "Tensor | None"], tuple[Tensor, Carry]]
BACKENDS: dict[str, Backend | str] = {"reference": run_reference}


def register_backend(name: str, backend: Backend | str) -> None:
    """Add (or replace) the backend called `name`: a function or a lazy ``"module:function"``."""
    BACKENDS[name] = backend


def backend_names() -> list[str]:
    """Sorted names of the registered backends."""
    return sorted(BACKENDS)


def get_backend(name: object) -> Backend:
    """The backend called `name`; ValueError listing the registered ones otherwise."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not valid; accepted: {', '.join(backend_names())}")
    backend = BACKENDS[name]
    if isinstance(backend, str):
        module, _, attribute = backend.partition(":")
        backend = BACKENDS[name] = getattr(importlib.import_module(module), attribute)
    return backend

# issue 6 speed backends, imported lazily (triton only when backend="triton" or "auto" on CUDA)
register_backend("bptt", "variants.backends.bptt:run_bptt")
register_backend("triton", "variants.backends.triton_backend:run_triton")
register_backend("cudnn", "variants.backends.torch_fused:run_torch_fused")
register_backend("auto", "variants.backends.auto_select:run_auto")
