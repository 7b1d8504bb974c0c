"""Checks and defaults for `variants.build` options; every bad value is a one-line ValueError."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from variants.backends import get_backend
from variants.cell import REGISTRY, Cell
from variants.init import BIAS_INITIALIZERS, WEIGHT_INITIALIZERS


@dataclass(frozen=True)
class LayerOptions:
    """The layer-level options; defaults equal torch.nn.LSTM's."""

    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    kernel_initializer: str = "torch"
    recurrent_initializer: str = "torch"
    bias_initializer: str = "torch"
    forget_bias: float | None = None
    chrono_t_max: float | None = None
    recurrent_dropout: float = 0.0
    go_backwards: bool = False
    backend: str = "auto"
    generator: torch.Generator | None = None
    device: Any = None
    dtype: torch.dtype | None = None


LAYER_OPTION_NAMES = tuple(LayerOptions.__dataclass_fields__)
# Cell options that are harmless on a cell that lacks them when left at this value.
NEUTRAL_CELL_OPTIONS: dict[str, Any] = {
    "nonlinearity": "tanh", "activation": "tanh", "recurrent_activation": "sigmoid",
    "peepholes": False,
}


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value!r} is not valid; accepted: True, False")
    return value


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{key}={value!r} is not valid; accepted: an integer >= {minimum}")
    return int(value)


def _real(key: str, value: Any, low: float, high: float, high_open: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and low <= value and (value < high if high_open else value <= high)
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{key}={value!r} is not valid; "
                         f"accepted: a number in [{low}, {high}{bracket}")
    return float(value)


def _choice(key: str, value: Any, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{key}={value!r} is not valid; accepted: {', '.join(accepted)}")
    return value


def check_sizes(input_size: Any, hidden_size: Any) -> tuple[int, int]:
    """Validate the two sizes (integers >= 1)."""
    return _int("input_size", input_size, 1), _int("hidden_size", hidden_size, 1)


def split_options(cell_cls: type[Cell], options: dict[str, Any]) -> tuple[LayerOptions, dict]:
    """Split `options` into validated layer options and the cell's own options."""
    options = dict(options)
    if "use_bias" in options:
        use_bias = options.pop("use_bias")
        if "bias" in options and options["bias"] != use_bias:
            raise ValueError(f"use_bias={use_bias!r} contradicts bias={options['bias']!r}; "
                             "use_bias is an alias of bias, give one")
        options["bias"] = use_bias
    cell_known = {key for cls in REGISTRY.values() for key in cls.options}
    cell_options, layer_options = {}, {}
    for key, value in options.items():
        if key in LAYER_OPTION_NAMES:
            layer_options[key] = value
        elif key in cell_cls.options:
            cell_options[key] = value
        elif key in cell_known or key in NEUTRAL_CELL_OPTIONS:
            if key in NEUTRAL_CELL_OPTIONS and value == NEUTRAL_CELL_OPTIONS[key]:
                continue
            own = ", ".join(cell_cls.options) or "none"
            raise ValueError(f"option {key}={value!r} does not apply to variant "
                             f"{cell_cls.name!r} (its cell options: {own})")
        else:
            accepted = sorted({*LAYER_OPTION_NAMES, "use_bias", *cell_cls.options})
            raise ValueError(f"unknown option {key!r} for variant {cell_cls.name!r}; "
                             f"accepted: {', '.join(accepted)}")
    return _check_layer(LayerOptions(**layer_options)), cell_options


def _check_layer(o: LayerOptions) -> LayerOptions:
    _int("num_layers", o.num_layers, 1)
    for key in ("bias", "batch_first", "bidirectional", "go_backwards"):
        _bool(key, getattr(o, key))
    _real("dropout", o.dropout, 0.0, 1.0, high_open=False)
    _real("recurrent_dropout", o.recurrent_dropout, 0.0, 1.0, high_open=True)
    _choice("kernel_initializer", o.kernel_initializer, WEIGHT_INITIALIZERS)
    _choice("recurrent_initializer", o.recurrent_initializer, WEIGHT_INITIALIZERS)
    _choice("bias_initializer", o.bias_initializer, BIAS_INITIALIZERS)
    get_backend(o.backend)
    if o.generator is not None and not isinstance(o.generator, torch.Generator):
        raise ValueError(f"generator={o.generator!r} is not valid; accepted: a torch.Generator")
    if o.forget_bias is not None:
        _real("forget_bias", o.forget_bias, float("-inf"), float("inf"), high_open=False)
        if o.bias_initializer == "chrono":
            raise ValueError("forget_bias and bias_initializer='chrono' both set the forget bias; "
                             "give one")
    if o.chrono_t_max is not None or o.bias_initializer == "chrono":
        if o.bias_initializer != "chrono":
            raise ValueError("chrono_t_max applies only with bias_initializer='chrono'")
        if o.chrono_t_max is None:
            raise ValueError("chrono_t_max is required with bias_initializer='chrono'; "
                             "accepted: a number >= 2 (the longest dependency, in steps)")
        _real("chrono_t_max", o.chrono_t_max, 2.0, float("inf"), high_open=False)
    if not o.bias and (o.bias_initializer != "torch" or o.forget_bias is not None):
        raise ValueError("bias_initializer/forget_bias need bias=True (the layer has no biases)")
    if o.dropout > 0 and o.num_layers == 1:
        warnings.warn("dropout > 0 acts between layers only; with num_layers=1 it does nothing "
                      "(as in torch.nn.LSTM)", stacklevel=3)
    return o
