"""The Task base class, its registry, and `build`/`names`: the contract every task follows."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def check_int(task: str, key: str, value: Any, low: int, high: int | None = None) -> int:
    """Return `value` as an int in [low, high], or raise a one-line ValueError naming `key`."""
    bound = f">= {low}" if high is None else f"in [{low}, {high}]"
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{task}: {key} must be an integer {bound}, got {value!r}")
    return int(value)


def check_float(task: str, key: str, value: Any, low: float, high: float) -> float:
    """Return `value` as a float in [low, high], or raise a one-line ValueError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"{task}: {key} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def check_choice(task: str, key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """Return `value` if it is one of `choices`, else raise a one-line ValueError naming `key`."""
    if isinstance(value, bool) != isinstance(choices[0], bool) or value not in choices:
        allowed = " | ".join(repr(c) for c in choices)
        raise ValueError(f"{task}: {key} must be one of {allowed}, got {value!r}")
    return value


class Task:
    """A synthetic long-range problem: batches, loss, metrics, trivial baseline, solved criterion.

    A subclass declares `name` (which registers it), `defaults` (every parameter, `length` first)
    and the attributes below; it validates its parameters in `_configure` and generates data in
    `_generate`. Construct one with `tasks.build(name, **params)`.
    """

    registry: ClassVar[dict[str, type[Task]]] = {}
    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]

    input_kind: str  # "tokens" | "real"
    input_size: int  # vocabulary size (tokens) or features per step (real)
    output_size: int  # classes (target_kind "class") or real outputs
    target_kind: str  # "class" | "real"
    readout: str  # "last" | "every"
    primary_metric: str
    primary_mode: str  # "min" | "max"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Task.registry[cls.name] = cls

    def __init__(self, **params: Any) -> None:
        unknown = [key for key in params if key not in self.defaults]
        if unknown:
            accepted = ", ".join(self.defaults)
            raise ValueError(f"{self.name}: unknown parameter {unknown[0]!r}; accepted: {accepted}")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._configure()
        self.length: int = self._check_length(self.params["length"])
        self.params["length"] = self.length

    def _configure(self) -> None:
        """Validate `self.params` (normalising them in place) and set the size attributes."""
        raise NotImplementedError

    def min_length(self) -> int:
        """The smallest `length` this task's layout allows."""
        return 1

    def _check_length(self, length: Any) -> int:
        return check_int(self.name, "length", length, low=self.min_length())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # -- data ------------------------------------------------------------------------------------

    def batch(self, n: int, generator: torch.Generator, length: int | None = None) -> Batch:
        """Draw `n` sequences, batch first, from `generator`: `(x, y, mask)` as in the contract.

        `length` overrides `self.length` (length generalisation). Tensors live on the
        generator's device.
        """
        n = check_int(self.name, "n", n, low=1)
        length = self.length if length is None else self._check_length(length)
        return self._generate(n, length, generator)

    def training_lengths(self) -> tuple[int, int]:
        """The range `(low, high)` of training lengths: `(length, length)` unless the task has a
        length curriculum (state tracking: `(min_length, length)`, Deletang et al. 2023)."""
        return self.length, self.length

    def training_batch(self, n: int, generator: torch.Generator) -> Batch:
        """A training batch: `batch(n, generator)`, or, with a curriculum, one length drawn
        uniformly from `training_lengths()` by `generator` first and the whole batch at it."""
        low, high = self.training_lengths()
        if low == high:
            return self.batch(n, generator)
        draw = torch.randint(low, high + 1, (1,), generator=generator, device=generator.device)
        return self.batch(n, generator, length=int(draw))

    def _generate(self, n: int, length: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def relevant_positions(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Where a batch's answer comes from: `(inputs (n, k), readout (n,))`, the steps that
        hold the k relevant inputs (in order) and the first step whose target needs them.

        For diagnostics (memory retention, gradient ratio); None where the task has no marked
        inputs.
        """
        return None

    # -- scoring ---------------------------------------------------------------------------------

    def loss(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scalar, differentiable loss over the steps where `mask` is True."""
        raise NotImplementedError

    def metrics(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """Un-prefixed metrics as floats, always including `loss`."""
        raise NotImplementedError

    def baseline(self, length: int | None = None) -> float:
        """Loss of the best input-independent strategy (at `length`, default `self.length`)."""
        raise NotImplementedError

    def solved(self, metrics: Mapping[str, float]) -> bool:
        """Whether `metrics` (un-prefixed, as from `self.metrics`) meet the solved criterion."""
        raise NotImplementedError

    def _metric(self, metrics: Mapping[str, float], key: str) -> float:
        if key not in metrics:
            raise ValueError(
                f"{self.name}: solved() needs metric {key!r}; got {', '.join(metrics) or 'none'}"
            )
        value = float(metrics[key])
        return value if math.isfinite(value) else math.nan


def names() -> list[str]:
    """The registered task names, sorted."""
    return sorted(Task.registry)


def build(name: str, **params: Any) -> Task:
    """Build the task `name` with `params` (missing ones take the task's defaults)."""
    if name not in Task.registry:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(names())}")
    return Task.registry[name](**params)
