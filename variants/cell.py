"""The Cell base class and its registry: a cell declares its gate blocks, extra parameters and step.

A cell never loops over time: the engine (`variants.engine`) projects the input for all steps with
one matmul and then, per step, calls `Cell.step`, which by default is
``pointwise(xp_t, recurrent_projection(h_in, carry, weights), carry, extra)``.
Backends other than the reference loop (hand-written BPTT, fused kernels) reuse the same two
pieces: the recurrent matmul and the cell's pointwise math.

Conventions
-----------
- ``blocks``: names of the H-sized blocks stacked in ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H)
  and the biases (G*H,), in order (torch's order for rnn/lstm/gru).
- ``recurrent_matrix``: False for a cell with no ``weight_hh`` and no ``bias_hh`` (minGRU,
  minLSTM: gates from x only; sLSTM: its head-wise R is an extra parameter): the layer then
  builds ``weight_ih`` and ``bias_ih`` only, the engine passes ``weight_hh_t=None`` and the cell's
  ``step`` must not call the default `recurrent_projection`.
- ``carry``: the tuple the engine threads through time. ``carry[0]`` is always ``h``; the first
  ``len(state_names)`` entries are the state returned to the user; further entries are internal
  (e.g. fgr's previous gates) and are never returned.
- ``xp_t``: input projection at step t, ``x_t W_ih^T + b_ih`` (+ ``b_hh`` when
  ``fold_recurrent_bias``), shape (B, G*H).
- ``gates`` / ``candidates``: the named per-step values a reader cares about (gates: values in
  [0, 1], e.g. the LSTM's i, f, o; candidates: other values, e.g. the LSTM's g). A cell hands
  them to `record_gates` from its step; `variants.recording` collects them on the reference
  engine. ``keep_gate`` names the gate that multiplies the previous memory (LSTM f, GRU z), whose
  product over steps is the memory retention; ``constant_gates`` the gates a variant fixes.

Fast paths: engines ask, the cell answers. A cell declares what a faster engine may run in its
place with the hooks ``bptt_kernel`` (+ ``bptt_weights``), ``triton_pointwise``,
``torch_fused`` and ``scan_coefficients`` (a recurrence diagonal-linear in h, run by a parallel
scan: `variants.backends.scan`); the defaults here say "none". A hook holds only for the class
that declares it: when a subclass (or a mixin) overrides one of the cell's `math_members` (``step``,
``pointwise``, a gate function...) below the class that declared a hook, `fast_path` refuses
that hook until the subclass declares it again, so a parent's kernel never runs in place of the
user's math. A subclass that changes only options (``options``, Greff's flags) keeps the
kernels, which read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from variants.backends.bptt.protocol import BPTTKernel
    from variants.backends.triton.spec import TritonCellSpec
    from variants.engine import LayerWeights

Carry = tuple[Tensor, ...]
# (xp (T, B, G*H), extra parameters) -> (a, b), each (T, B, H): h_t = a_t * h_{t-1} + b_t
ScanCoefficients = Callable[[Tensor, dict[str, Tensor]], tuple[Tensor, Tensor]]
REGISTRY: dict[str, type[Cell]] = {}


class StepWeights(NamedTuple):
    """What a step needs besides its inputs: R^T (H, G*H), b_hh when not folded, extra params."""

    weight_hh_t: Tensor | None  # None when the cell has no recurrent matrix
    bias_hh: Tensor | None
    extra: dict[str, Tensor]


class Cell:
    """Base class of every recurrent cell; subclasses register themselves by their ``name``.

    To add a cell, subclass it, set ``name`` (the registry line), ``blocks``, ``state_names`` and
    write ``pointwise``; override ``recurrent_projection`` or ``step`` only when the recurrence is
    not ``h_prev @ R^T``. A cell whose math lives in ``step`` (it does not call ``pointwise``)
    says so with ``math_in = "step"``; a subclass of it must then override ``step``, not
    ``pointwise`` (TypeError at class creation otherwise).
    """

    name: ClassVar[str]
    blocks: tuple[str, ...] = ("h",)
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    options: ClassVar[dict[str, Any]] = {}
    fold_recurrent_bias: ClassVar[bool] = True
    recurrent_matrix: ClassVar[bool] = True  # False: no weight_hh / bias_hh (module docstring)
    math_in: ClassVar[str] = "pointwise"  # the method that holds the per-step math
    # members that define the cell's math: overriding one below a hook's class voids that hook
    math_members: ClassVar[tuple[str, ...]] = (
        "step", "pointwise", "recurrent_projection", "prepare_weights", "initial_carry",
        "final_state", "fold_recurrent_bias")
    gates: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    keep_gate: str | None = None
    constant_gates: dict[str, float] = {}
    _gate_recorder: Callable[[dict[str, Tensor]], None] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.math_in == "step" and "pointwise" in cls.__dict__ and "step" not in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} overrides pointwise(), but the math of its parent "
                            "is in step(), which does not call pointwise(): override step()")
        name = cls.__dict__.get("name")
        if name is None:
            return
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Cell name {name!r} must be an identifier-like string")
        if name in REGISTRY and REGISTRY[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"cell name {name!r} is already registered by {REGISTRY[name]}")
        REGISTRY[name] = cls

    def __init__(self, hidden_size: int, **options: Any) -> None:
        self.hidden_size = hidden_size
        for key, value in {**self.options, **options}.items():
            setattr(self, key, value)

    # ---- structure -------------------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        """Number of H-sized gate blocks in W, R and b."""
        return len(self.blocks)

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        """Parameters beyond W/R/b, as ``{name: shape}``; the layer adds ``_l{k}[_reverse]``."""
        return {}

    def init_extra(self, name: str, tensor: Tensor, generator: torch.Generator | None) -> None:
        """Initialise an extra parameter in place: torch's rule, uniform(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        tensor.uniform_(-bound, bound, generator=generator)

    def init_parameters(self, weights: LayerWeights, options: Any,
                        generator: torch.Generator | None, layer: int, num_layers: int) -> None:
        """Called after the layer's generic init of each layer and direction: a cell whose paper
        initialises differently overwrites here what `options` (the layer's `LayerOptions`) leave
        at their defaults. Default: nothing."""

    def forget_bias_blocks(self, chrono: bool = False) -> dict[str, float]:
        """``{block: sign}`` that `forget_bias` / chrono init write to; {} = not applicable."""
        return {}

    # ---- state -----------------------------------------------------------------------------
    def initial_carry(self, state: Carry) -> Carry:
        """The carry at t = 0 from the user's state (add internal entries here)."""
        return state

    def final_state(self, carry: Carry) -> Carry:
        """The state returned to the user: the first ``len(state_names)`` carry entries."""
        return carry[: len(self.state_names)]

    # ---- math ------------------------------------------------------------------------------
    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        """Called once per sequence before the loop: split/transpose weights here, not per step."""
        return weights

    def recurrent_projection(self, h_in: Tensor, carry: Carry, weights: StepWeights) -> Tensor:
        """``h_in R^T`` (+ ``b_hh`` when it is not folded into the input projection)."""
        if weights.bias_hh is None:
            return torch.mm(h_in, weights.weight_hh_t)
        return torch.addmm(weights.bias_hh, h_in, weights.weight_hh_t)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        """The cell's elementwise math: (input proj., recurrent proj., carry, extra) -> carry."""
        raise NotImplementedError

    def record_gates(self, **values: Tensor) -> None:
        """Hand this step's declared gate values to the active recorder; a no-op otherwise.

        Call it from ``pointwise``/``step`` with the tensors the math uses (never copies), e.g.
        ``self.record_gates(g=g)``; `variants.recording.recording` turns it on.
        """
        recorder = self._gate_recorder
        if recorder is not None:
            recorder(values)

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        """One time step. ``h_in`` is ``h_prev`` with the recurrent-dropout mask applied."""
        return self.pointwise(xp_t, self.recurrent_projection(h_in, carry, weights), carry,
                              weights.extra)


    # ---- fast paths (engines ask, the cell answers; see the module docstring) ----------------
    def bptt_kernel(self) -> BPTTKernel | None:
        """The `bptt` backend's kernel of this cell (`variants.backends.bptt.protocol`), or None."""
        return None

    def bptt_weights(self, weights: LayerWeights) -> tuple[Tensor, ...]:
        """The tensors after the state that `bptt_kernel()`'s ``forward`` takes, in its order."""
        return (weights.weight_hh,)

    def triton_pointwise(self) -> TritonCellSpec | None:
        """The `triton` backend's spec of this cell (`variants.backends.triton.spec`), or None."""
        return None

    def torch_fused(self) -> str | None:
        """torch's fused op equal to this cell (``"lstm"``, ``"gru"``, ``"rnn_tanh"``,
        ``"rnn_relu"``; used by backend `cudnn`), or None when torch has none."""
        return None

    def scan_coefficients(self) -> ScanCoefficients | None:
        """For a recurrence diagonal-linear in h, ``h_t = a_t * h_{t-1} + b_t`` with a, b from the
        input only: a function ``(xp (T, B, G*H), extra) -> (a, b)``, each (T, B, H), with the
        same ops as the cell's step (backend `scan`); None otherwise."""
        return None

    def torch_family(self) -> type[nn.Module] | None:
        """torch's module of this cell's family (nn.RNN, nn.LSTM, nn.GRU): the speed benchmark's
        baseline, not an equality (`torch_fused` is); None when the cell belongs to none."""
        return None


FAST_PATH_HOOKS = ("bptt_kernel", "triton_pointwise", "torch_fused", "scan_coefficients")


def _definer(cls: type, member: str) -> type | None:
    """The class of `cls`'s MRO whose own namespace defines `member`."""
    return next((c for c in cls.__mro__ if member in c.__dict__), None)


def stale_hook(cell: Cell, hook: str) -> str | None:
    """Why `cell` may not use its `hook` (one of FAST_PATH_HOOKS), or None when it may.

    The hook must be declared by a class other than `Cell` (the default says "none"), and every
    math member (`Cell.math_members`) must come from the declaring class or one of its ancestors:
    one defined by a subclass or a mixin voids the hook.
    """
    cls = type(cell)
    owner = cls if hook in vars(cell) else _definer(cls, hook)
    if owner is None or owner is Cell:
        return f"cell {cell.name!r} declares no {hook}()"
    for member in cell.math_members:
        definer = _definer(cls, member)
        if definer is not None and not issubclass(owner, definer):
            return (f"cell {cell.name!r} ({cls.__qualname__}) overrides {member} in "
                    f"{definer.__qualname__}, below {owner.__qualname__} which declares {hook}(); "
                    f"declare {hook}() again in {definer.__qualname__} if it matches")
    return None


def fast_path(cell: Cell, hook: str) -> tuple[Any, str | None]:
    """``(value, None)``: what `cell`'s `hook` returns; ``(None, reason)`` when it has none or
    may not use it (`stale_hook`)."""
    reason = stale_hook(cell, hook)
    if reason is not None:
        return None, reason
    try:
        value = getattr(cell, hook)()
    except ValueError as error:  # e.g. options this kernel does not cover
        return None, f"cell {cell.name!r}: {error}"
    if value is None:
        return None, f"cell {cell.name!r}: {hook}() gives none for these options"
    return value, None


def names() -> list[str]:
    """Sorted names of every registered cell."""
    return sorted(REGISTRY)


def cell_class(name: str) -> type[Cell]:
    """The registered Cell subclass called `name`; ValueError listing the names otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown variant {name!r}; accepted: {', '.join(names())}")
    return REGISTRY[name]
