"""Run a recurrent layer once on the reference engine and keep its gates and dL/d(state)_t.

The trace describes the first layer's forward direction (row 0, the one that reads the task's
inputs): its declared gates per step, and the gradient of a loss with respect to each state
(h, and c where the cell has one) at every step, by autograd through the reference engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from variants.layer import RecurrentLayer
from variants.recording import recording


@dataclass
class LayerTrace:
    """Row 0 of a layer run: gates name -> (B, T, H) and state name -> ||dL/d state_t|| (B, T)."""

    gates: dict[str, Tensor]
    grad_norms: dict[str, Tensor]
    loss: float


def trace_layer(layer: RecurrentLayer, run: Callable[[], Tensor]) -> LayerTrace:
    """Call `run()` (which must call `layer` once and return a scalar loss) while recording.

    The layer runs on the reference engine for this call (its backend is restored after), in
    whatever train/eval mode it is in; weights' ``.grad`` are not touched.
    """
    if layer.go_backwards:
        raise ValueError("diagnostics: a go_backwards layer is not traced (it reads time "
                         "backwards; the task's marked positions, in time order, would point at "
                         "the wrong steps); accepted: go_backwards=False")
    cell = layer.cell
    backend, layer.backend = layer.backend, "reference"
    try:
        with torch.enable_grad(), recording(cell) as trace:
            loss = run()
    finally:
        layer.backend = backend
    rows = layer.num_layers * layer.num_directions
    per_row = len(trace.steps) // rows
    trace.check(rows * max(1, per_row))  # refuses a run that recorded no (or partial) steps
    steps = trace.steps[:per_row]  # row 0: layer 0, forward
    gates = {
        name: torch.stack([s.gates[name].detach() for s in steps], dim=1)
        for name in trace.declared
    }
    names = cell.state_names
    states = [s.carry[k] for k in range(len(names)) for s in steps]
    if loss.dim() != 0:
        raise ValueError(f"run() must return a scalar loss, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss, states, allow_unused=True)
    grad_norms = {}
    for k, name in enumerate(names):
        per_step = grads[k * len(steps) : (k + 1) * len(steps)]
        norms = [
            torch.zeros(states[0].shape[0], dtype=states[0].dtype, device=states[0].device)
            if g is None
            else torch.linalg.vector_norm(g, dim=-1)
            for g in per_step
        ]
        grad_norms[name] = torch.stack(norms, dim=1).detach()
    return LayerTrace(gates, grad_norms, float(loss.detach()))
