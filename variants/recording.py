"""Record a cell's declared gates and its carry at every step the reference engine runs.

    with recording(layer.cell) as trace:
        output, _ = layer(x)          # layer.backend must be "reference"
    trace.steps[t].gates["f"], trace.steps[t].carry[1]      # f_t and c_t, in call order

Recording wraps the cell's ``step`` and turns on `Cell.record_gates`; the math is the cell's own
(the recorded tensors are the ones the step computed, still in the autograd graph), so outputs are
the same with and without recording. Only the reference engine calls ``step``: other backends run
their own kernels and record nothing, which `GateTrace.check` refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from variants.cell import Carry, Cell, StepWeights


@dataclass
class StepRecord:
    """What one step produced: its declared gate values and the carry it returned."""

    gates: dict[str, Tensor]
    carry: Carry


@dataclass
class GateTrace:
    """The steps a cell ran while recording, in call order (layer by layer, direction by
    direction, reverse directions in processing order)."""

    cell: Cell
    steps: list[StepRecord] = field(default_factory=list)
    _pending: dict[str, Tensor] | None = None

    @property
    def declared(self) -> tuple[str, ...]:
        """The names the cell declares: its gates, then its candidates."""
        return tuple(self.cell.gates) + tuple(self.cell.candidates)

    def _receive(self, values: dict[str, Tensor]) -> None:
        unknown = sorted(set(values) - set(self.declared))
        if unknown:
            raise ValueError(
                f"cell {self.cell.name!r} recorded {unknown[0]!r}, which it does not declare; "
                f"declared: {', '.join(self.declared) or 'none'} (set gates/candidates)"
            )
        if self._pending is None:
            self._pending = {}
        self._pending.update(values)

    def _finish_step(self, carry: Carry) -> None:
        gates, self._pending = self._pending or {}, None
        missing = [name for name in self.declared if name not in gates]
        if missing:
            raise ValueError(
                f"cell {self.cell.name!r} declares {missing[0]!r} but its step did not record "
                f"it: call self.record_gates({missing[0]}=...) in pointwise/step"
            )
        self.steps.append(StepRecord(gates, tuple(carry)))

    def check(self, expected_steps: int) -> None:
        """Raise unless exactly `expected_steps` steps were recorded (another backend records
        none: recording needs ``backend="reference"``)."""
        if len(self.steps) != expected_steps:
            raise RuntimeError(
                f"recorded {len(self.steps)} steps of cell {self.cell.name!r}, expected "
                f"{expected_steps}: recording works on the reference engine only "
                f"(backend='reference')"
            )


@contextmanager
def recording(cell: Cell) -> Iterator[GateTrace]:
    """Record every step `cell` runs inside the block; restores the cell afterwards."""
    if "step" in vars(cell) or cell._gate_recorder is not None:
        raise RuntimeError(f"cell {cell.name!r} is already being recorded")
    trace = GateTrace(cell)
    original = cell.step

    def step(xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Any:
        new_carry = original(xp_t, h_in, carry, weights)
        trace._finish_step(new_carry)
        return new_carry

    cell.step = step  # type: ignore[method-assign]
    cell._gate_recorder = trace._receive
    try:
        yield trace
    finally:
        del cell.step
        del cell._gate_recorder
