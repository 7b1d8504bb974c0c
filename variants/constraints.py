"""Box constraints on parameters, enforced after every optimizer step (projected gradient descent).

A cell whose paper constrains a weight (IndRNN: |u| <= u_max, Li et al. 2018, Sec. 3.1) calls
`bound_after_step(parameter, limit)` when the layer initialises it. One global post-step hook
(``torch.optim.optimizer.register_optimizer_step_post_hook``) then clamps every bounded parameter
that the stepping optimizer holds to [-limit, limit], after any torch optimizer's ``step()``
(Lightning's included), as the IndRNN authors' code clips ``weight_hh`` after each update. The
forward pass never clamps: every engine runs the same math on the same values. Bounds are kept
in a weak mapping by identity, so a deleted layer leaves nothing behind; a deep copy of a layer
is not bounded until it is re-initialised (``reset_parameters``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.weak import WeakIdKeyDictionary

_LIMITS = WeakIdKeyDictionary()  # parameter (by identity) -> limit
_HOOK: list[Any] = []


def _project(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Clamp the bounded parameters `optimizer` holds (the global post-step hook)."""
    if not _LIMITS:
        return
    with torch.no_grad():
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                limit = _LIMITS.get(parameter)
                if limit is not None:
                    parameter.clamp_(-limit, limit)


def bound_after_step(parameter: Tensor, limit: float) -> None:
    """Keep |parameter| <= limit after every optimizer step that updates it (and clamp it now)."""
    if not limit > 0:
        raise ValueError(f"limit={limit!r} is not valid; accepted: a number > 0")
    if not _HOOK:
        _HOOK.append(register_optimizer_step_post_hook(_project))
    _LIMITS[parameter] = float(limit)
    with torch.no_grad():
        parameter.clamp_(-limit, limit)


def limit_of(parameter: Tensor) -> float | None:
    """The bound registered for `parameter`, or None."""
    return _LIMITS.get(parameter)
