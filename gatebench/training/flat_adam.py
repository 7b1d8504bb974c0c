"""Adam whose update runs once over each group's parameters laid end to end (issue 27, lean step).

On CPU torch's Adam loops over the parameters, about eight small tensor ops each: at study
sizes (a model of 8 small tensors) that is ~0.19 ms of a 1.5-2.5 ms step (B 32, H 32, T 100).
Adam's update is elementwise, so running the same ops once on the concatenated gradients and
moment buffers gives the same numbers bit for bit (tests/test_lean_step*.py): ~0.10 ms.

`FlatAdam` is `torch.optim.Adam` with the same options, state and `state_dict` (per-parameter
`step`, `exp_avg`, `exp_avg_sq`, here views into flat buffers, one set per group, so a
checkpoint loads into either class). It takes the flat path only where torch's own default path
is the per-parameter loop with these exact ops (CPU, one float dtype, dense real gradients on
every parameter, no amsgrad, maximize, weight decay, capturable, differentiable, foreach or
fused, a number as lr, equal step counts); anything else runs `torch.optim.Adam.step` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import _get_scalar_dtype

_OFF = ("amsgrad", "maximize", "capturable", "differentiable", "foreach", "fused")
_FLOATS = (torch.float32, torch.float64)


class _FlatGroup:
    """One group's parameters, gradients, steps and moments, laid end to end (the state's
    `step`, `exp_avg` and `exp_avg_sq` entries are views into the flat buffers)."""

    def __init__(self, params: list[torch.Tensor], state: dict[Any, dict[str, Any]]) -> None:
        self.params = params
        self.sizes = [p.numel() for p in params]
        dtype, total = params[0].dtype, sum(self.sizes)
        if all(len(state[p]) == 0 for p in params):  # as torch's Adam._init_group starts
            steps = torch.zeros(len(params), dtype=_get_scalar_dtype())
            exp_avg = torch.zeros(total, dtype=dtype)
            exp_avg_sq = torch.zeros(total, dtype=dtype)
        else:
            steps = torch.stack([state[p]["step"].detach().to("cpu") for p in params])
            exp_avg = torch.cat([state[p]["exp_avg"].reshape(-1) for p in params])
            exp_avg_sq = torch.cat([state[p]["exp_avg_sq"].reshape(-1) for p in params])
        self.steps, self.exp_avg, self.exp_avg_sq = steps, exp_avg, exp_avg_sq
        self.grad = torch.empty(total, dtype=dtype)
        self.flat = torch.empty(total, dtype=dtype)
        self.chunks = list(self.flat.split(self.sizes))
        self.param_views = [p.detach().view(-1) for p in params]
        for i, (p, m, v) in enumerate(zip(params, exp_avg.split(self.sizes),
                                          exp_avg_sq.split(self.sizes), strict=True)):
            state[p].update(step=steps[i], exp_avg=m.view_as(p), exp_avg_sq=v.view_as(p))
        self.views = [(state[p]["step"], state[p]["exp_avg"], state[p]["exp_avg_sq"])
                      for p in params]

    def owns(self, params: list[torch.Tensor], state: dict[Any, dict[str, Any]]) -> bool:
        """Whether this is still the group's layout (the same parameters and storage, these
        state views) and every parameter has a dense gradient."""
        if len(params) != len(self.params):
            return False
        for p, mine, view, (t, m, v) in zip(params, self.params, self.param_views, self.views,
                                            strict=True):
            grad = p.grad
            if grad is None or grad.is_sparse or not grad.is_contiguous() or p is not mine \
                    or view.data_ptr() != p.data_ptr() or not p.is_contiguous():
                return False
            s = state.get(p)
            if s is None or s.get("step") is not t or s.get("exp_avg") is not m \
                    or s.get("exp_avg_sq") is not v:
                return False
        return True

    def step(self, group: dict[str, Any]) -> None:
        """torch's `_single_tensor_adam` (its capturable=False branch), on the flat tensors."""
        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        self.steps.add_(1)
        grad = torch.cat([p.grad.view(-1) for p in self.params], out=self.grad)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = self.steps[0].item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        flat = torch.cat(self.param_views, out=self.flat)
        flat.addcdiv_(self.exp_avg, denom, value=-step_size)
        torch._foreach_copy_(self.param_views, self.chunks)


# torch.optim.Adam.step without the optimizer-hook wrapper torch adds to a class's `step` on
# first use (FlatAdam.step has its own: the hooks must not run twice).
_ADAM_STEP = getattr(torch.optim.Adam.step, "__wrapped__", torch.optim.Adam.step) \
    if getattr(torch.optim.Adam.step, "hooked", False) else torch.optim.Adam.step


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FlatAdam(torch.optim.Adam):
    """`torch.optim.Adam`, its CPU update run once per parameter group (see the module)."""

    def __init__(self, params: Any, *args: Any, **options: Any) -> None:
        super().__init__(params, *args, **options)
        self._flat: dict[int, _FlatGroup] = {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._flat = {}
        super().load_state_dict(state_dict)

    def _flat_group(self, index: int, group: dict[str, Any]) -> _FlatGroup | None:
        """The group's flat layout, (re)built when needed; None where torch's path must run."""
        params = group["params"]
        if not params or any(group[k] for k in _OFF) or group["weight_decay"] != 0:
            return None
        if not (_number(group["lr"]) and all(_number(b) for b in group["betas"])):
            return None
        flat = self._flat.get(index)
        if flat is not None and flat.owns(params, self.state):
            return flat
        dtype = params[0].dtype
        for p in params:
            grad = p.grad
            if grad is None or grad.is_sparse or p.device.type != "cpu" or p.dtype != dtype \
                    or grad.dtype != dtype or not p.is_contiguous() or not grad.is_contiguous() \
                    or dtype not in _FLOATS:
                return None
        states = [self.state.get(p, {}) for p in params]
        if any(states) and not all(
            {"step", "exp_avg", "exp_avg_sq"} <= s.keys() and s["exp_avg"].dtype == dtype
            and s["exp_avg"].shape == p.shape and s["exp_avg_sq"].shape == p.shape
            for s, p in zip(states, params, strict=True)
        ):
            return None
        if any(states) and len({float(s["step"]) for s in states}) != 1:
            return None
        flat = _FlatGroup(params, self.state)
        self._flat[index] = flat
        return flat

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One Adam step (evaluating `closure` first, as torch's Adam does)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        flats = [self._flat_group(i, g) for i, g in enumerate(self.param_groups)]
        if any(f is None for f in flats):
            self._flat = {}  # torch's step may create or advance state: rebuild next time
            _ADAM_STEP(self)
            return loss
        self._accelerator_graph_capture_health_check()
        with torch.no_grad():
            for flat, group in zip(flats, self.param_groups, strict=True):
                flat.step(group)
        return loss
