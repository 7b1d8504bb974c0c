"""Diagnostics of a SequenceModel on a fixed batch: one snapshot per training step asked for.

A snapshot holds, for the first layer's forward direction: per gate the mean, quantiles and
saturation at each step and the mean over units on one example (example 0); for each state
(h, c) the quantiles over the batch of ||dL/d state_t||; the retention profile of the keep
gate (LSTM f, GRU z) to the readout; and the summaries at the task's marked positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gatebench.diagnostics import measures
from gatebench.diagnostics.trace import trace_layer

Batch = tuple[Tensor, Tensor, Tensor]
DIAGNOSTICS_SEED = 0  # the validation stream of seed 0: the same batch for every cell and run


def fixed_batch(task: Any, size: int = 64) -> Batch:
    """`size` sequences drawn from the validation stream of seed 0 (seed 0's validation set
    when its val_size is `size`): the same for every cell, seed and run of a task, and held out
    from every run's training data (`tasks.seeds`)."""
    from tasks.seeds import stream_generator

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"diagnostics.batch_size must be an integer >= 1, got {size!r}")
    return task.batch(size, stream_generator(DIAGNOSTICS_SEED, "val"))


@dataclass
class Snapshot:
    """One diagnostic measurement; arrays are numpy, float64."""

    step: int
    label: str
    loss: float
    gate_names: tuple[str, ...]  # recorded gates, then candidates
    gate_kinds: tuple[str, ...]  # "gate" (in [0, 1]) | "candidate"
    gate_mean: np.ndarray  # (G, T)
    gate_quantiles: np.ndarray  # (G, T, Q)
    saturation: np.ndarray  # (G, T), NaN for candidates
    example_gate: np.ndarray  # (G, T): example 0, mean over units
    state_names: tuple[str, ...]
    grad_quantiles: np.ndarray  # (K, T, Q): over the batch
    retention: np.ndarray  # (T,): mean over the batch; NaN without a keep gate
    retention_marked: np.ndarray  # (P,): mean over the batch at the k-th marked input
    grad_ratio: dict[str, float]  # state -> median over the batch of the ratio first/readout
    example_keep_unit: np.ndarray  # (T,): example 0's keep gate in the unit that retains its
    #                                first marked input best (NaN without a keep gate)

    def summary(self) -> dict[str, Any]:
        """The scalars of this snapshot (for results.json and W&B)."""
        out: dict[str, Any] = {"step": self.step, "label": self.label, "loss": self.loss}
        for name, value in self.grad_ratio.items():
            out[f"grad_ratio_{name}"] = value
        out["retention_marked"] = [_finite(v) for v in self.retention_marked]
        for k, (name, kind) in enumerate(zip(self.gate_names, self.gate_kinds, strict=True)):
            out[f"mean_{name}"] = _finite(np.mean(self.gate_mean[k]))
            if kind == "gate":
                out[f"saturation_{name}"] = _finite(np.mean(self.saturation[k]))
        return out


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def keep_values(cell: Any, gates: dict[str, Tensor], shape: tuple[int, ...]) -> Tensor | None:
    """The keep gate (B, T, H) of `cell`: recorded, or its constant; None if it has none."""
    name = cell.keep_gate
    if name is None:
        return None
    if name in gates:
        return gates[name]
    if name in cell.constant_gates:
        return torch.full(shape, float(cell.constant_gates[name]), dtype=torch.float64)
    raise ValueError(f"cell {cell.name!r}: keep_gate {name!r} is neither recorded nor constant")


def marked_positions(task: Any, batch: Batch) -> tuple[Tensor, Tensor]:
    """`task.relevant_positions` of the batch: (inputs (B, P), readout (B,)); P = 0 and the
    last step where the task marks no inputs."""
    x, y, mask = batch
    positions = task.relevant_positions(x, y, mask)
    if positions is not None:
        return positions[0].long(), positions[1].long()
    inputs = torch.zeros(x.shape[0], 0, dtype=torch.long, device=x.device)
    return inputs, torch.full((x.shape[0],), x.shape[1] - 1, dtype=torch.long, device=x.device)


def snapshot(model: Any, task: Any, batch: Batch, step: int, label: str) -> Snapshot:
    """Measure `model` (a gatebench SequenceModel) on `batch` in eval mode (no dropout)."""
    device = next(model.parameters()).device
    x, y, mask = (t.to(device) for t in batch)
    was_training = model.training
    model.eval()
    try:
        trace = trace_layer(model.layer, lambda: task.loss(model(x), y, mask))
    finally:
        model.train(was_training)
    cell = model.layer.cell
    names = tuple(trace.gates)
    kinds = tuple("gate" if n in cell.gates else "candidate" for n in names)
    steps = x.shape[1]
    q = len(measures.QUANTILES)
    mean, quant = np.full((len(names), steps), np.nan), np.full((len(names), steps, q), np.nan)
    sat, example = np.full((len(names), steps), np.nan), np.full((len(names), steps), np.nan)
    for k, name in enumerate(names):
        values = trace.gates[name]
        mean[k], quant[k] = measures.gate_activity(values)
        if kinds[k] == "gate":
            sat[k] = measures.saturation(values)
        example[k] = values[0].double().mean(dim=1).cpu().numpy()
    grad_q = np.stack([measures.norm_profile(n) for n in trace.grad_norms.values()])
    inputs, readout = marked_positions(task, (x, y, mask))
    keep = keep_values(cell, trace.gates, (x.shape[0], steps, model.layer.hidden_size))
    retention = np.full(steps, np.nan)
    marked = np.full(inputs.shape[1], np.nan)
    unit_trace = np.full(steps, np.nan)
    if keep is not None:
        first = int(inputs[0, 0]) if inputs.shape[1] else 0
        unit_trace = measures.best_kept_unit(keep[0], first, int(readout[0]))
        per_seq = measures.retention(keep, readout)
        retention = np.nanmean(per_seq.cpu().numpy(), axis=0)
        if inputs.shape[1]:
            marked = measures.at_positions(per_seq, inputs).mean(axis=0)
    ratios = {}
    for name, norms in trace.grad_norms.items():
        if inputs.shape[1]:
            ratio = measures.gradient_ratio(norms, inputs[:, 0], readout)
            ratios[name] = _finite(np.nanmedian(ratio)) if np.isfinite(ratio).any() else None
    return Snapshot(step, label, trace.loss, names, kinds, mean, quant, sat, example,
                    tuple(trace.grad_norms), grad_q, retention, marked, ratios, unit_trace)
