"""Optimizers (adam, rmsprop, sgd with momentum) and the optional warmup + cosine schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from gatebench.training.flat_adam import FlatAdam

# `adam` is torch's Adam with its CPU update run once over all parameters: the same numbers bit
# for bit, ~0.1 ms less per step at study sizes (gatebench.training.flat_adam).
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": FlatAdam,
    "rmsprop": torch.optim.RMSprop,
    "sgd": torch.optim.SGD,
}


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """The optimizer named by `cfg["name"]`; every other key is passed to its torch constructor."""
    options = dict(cfg)
    name = options.pop("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={name!r} is invalid: expected one of {list(OPTIMIZERS)}")
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    return OPTIMIZERS[name](params, **options)


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, cosine: bool, min_lr_ratio: float = 0.0
) -> float:
    """LR multiplier at `step`: linear warmup to 1 over `warmup_steps`, then constant or a
    half-cosine decay to `min_lr_ratio` at `total_steps` (Loshchilov & Hutter 2017, SGDR, without
    restarts)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if not cosine:
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any]
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """A per-step LambdaLR for `scheduler` config (name constant|cosine, warmup_steps, total_steps,
    min_lr_ratio), or None when the learning rate is simply constant."""
    name = cfg.get("name", "constant")
    warmup = int(cfg.get("warmup_steps", 0) or 0)
    if name not in ("constant", "cosine"):
        raise ValueError(f"scheduler.name={name!r} is invalid: expected constant or cosine")
    if name == "constant" and warmup == 0:
        return None
    total = int(cfg["total_steps"])
    min_ratio = float(cfg.get("min_lr_ratio", 0.0))

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, warmup, total, name == "cosine", min_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
