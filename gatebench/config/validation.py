"""Config checks: reject invalid run settings with one line naming the key and what it accepts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")
WANDB_MODES = ("online", "offline", "disabled")


class ConfigError(ValueError):
    """An invalid config value; its message is one line naming the key and what it accepts."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


SEED_LIMIT = 2**32  # numpy's and Lightning's seed_everything take seeds below 2**32


def _is_number(value: Any) -> bool:
    """A finite int or float (an int too large for a float, e.g. 401 digits, is not)."""
    if not (_is_int(value) or isinstance(value, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | ListConfig)


def _positive_int(v: Any) -> bool:
    return _is_int(v) and v > 0


def _non_negative_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _positive_number(v: Any) -> bool:
    return _is_number(v) and v > 0


def _non_negative_number(v: Any) -> bool:
    return _is_number(v) and v >= 0


# key -> (predicate, what the key accepts); a missing optional key is skipped.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: _non_negative_int(v) and v < SEED_LIMIT, "an integer in [0, 2**32)"),
    "variant.hidden_size": (_positive_int, "an integer >= 1"),
    "variant.num_layers": (_positive_int, "an integer >= 1"),
    "task.length": (_positive_int, "an integer >= 1"),
    "optimizer.name": (lambda v: v in OPTIMIZERS, "one of " + ", ".join(OPTIMIZERS)),
    "optimizer.lr": (_positive_number, "a number > 0"),
    "optimizer.weight_decay": (_non_negative_number, "a number >= 0"),
    "optimizer.momentum": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "trainer.max_steps": (_positive_int, "an integer >= 1"),
    "trainer.val_check_interval": (_positive_int, "an integer >= 1 (steps between validations)"),
    "trainer.gradient_clip_val": (
        lambda v: v is None or _positive_number(v),
        "a number > 0, or null for no clipping",
    ),
    "scheduler.name": (lambda v: v in SCHEDULES, "one of " + ", ".join(SCHEDULES)),
    "scheduler.warmup_steps": (_non_negative_int, "an integer >= 0"),
    "scheduler.total_steps": (_positive_int, "an integer >= 1"),
    "scheduler.min_lr_ratio": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "data.batch_size": (_positive_int, "an integer >= 1"),
    "data.val_size": (_positive_int, "an integer >= 1"),
    "data.test_size": (_positive_int, "an integer >= 1"),
    "data.train_size": (lambda v: v is None or _positive_int(v), "an integer >= 1, or null"),
    "data.test_length": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1, or null (deprecated: use data.test_lengths)",
    ),
    "data.test_lengths": (
        lambda v: v is None or (_is_list(v) and len(v) > 0 and all(_positive_int(n) for n in v)),
        "a non-empty list of integers >= 1 (e.g. [50, 100, 250]), or null",
    ),
    "model.encoder_size": (lambda v: v is None or _positive_int(v), "an integer >= 1, or null"),
    "trainer.enable_progress_bar": (
        lambda v: v is None or isinstance(v, bool),
        "true, false, or null (a bar when stdout is a terminal)",
    ),
    "progress_every_s": (_positive_number, "a number > 0 (seconds)"),
    "model.param_budget": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 (trainable parameters of the whole model), or null",
    ),
    "threads": (lambda v: v is None or _positive_int(v), "an integer >= 1, or null"),
    "ckpt_path": (lambda v: v is None or isinstance(v, str), "null, 'last' or a checkpoint path"),
    "plateau.patience": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 (validations without improvement before stopping), or null (off)",
    ),
    "plateau.min_delta": (_non_negative_number, "a number >= 0 (a change of val/norm_loss)"),
    "diagnostics.enabled": (lambda v: isinstance(v, bool), "true or false"),
    "diagnostics.every": (lambda v: v is None or _positive_int(v), "an integer >= 1, or null"),
    "diagnostics.batch_size": (_positive_int, "an integer >= 1"),
    "logger.wandb.mode": (lambda v: v in WANDB_MODES, "one of " + ", ".join(WANDB_MODES)),
}

_REQUIRED = ("seed", "variant.name", "task.name", "optimizer.name", "trainer.max_steps")
_MISSING = object()


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError (one line: key, value, what it accepts) for the first invalid value."""
    for key in _REQUIRED:
        if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            raise ConfigError(f"{key} is missing: the config must set it")
    for key, (accepts, description) in _RULES.items():
        value = OmegaConf.select(cfg, key, default=_MISSING)
        if value is _MISSING:
            continue
        if not accepts(value):
            shown = repr(value)
            if len(shown) > 40:  # a 401-digit number stays one readable line
                shown = f"{shown[:20]}...({len(shown)} characters)"
            raise ConfigError(f"{key}={shown} is invalid: expected {description}")
