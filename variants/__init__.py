"""gatebench's recurrent cells: every variant as a drop-in, torch.nn.LSTM-like layer on one engine.

    layer = variants.build("lstm", input_size, hidden_size, num_layers=2, batch_first=True)
    output, (h, c) = layer(x)
"""

from __future__ import annotations

from typing import Any

from torch import nn

import variants.cells  # noqa: F401  (registers the built-in cells)
from variants.backends import backend_names, register_backend
from variants.cell import Cell, StepWeights
from variants.cell import names as _names
from variants.layer import RecurrentLayer

__all__ = [
    "Cell", "RecurrentLayer", "StepWeights", "backend_names", "build", "count_parameters",
    "names", "register_backend",
]


def names() -> list[str]:
    """Sorted names of every registered variant (built-in and user cells)."""
    return _names()


def build(name: str, input_size: int, hidden_size: int, **options: Any) -> RecurrentLayer:
    """Build the recurrent layer of variant `name`; options as torch.nn.LSTM / Keras LSTM.

    See `variants.layer` and docs/contracts.md for the options; unknown names or options raise
    a ValueError saying what is accepted.
    """
    return RecurrentLayer(name, input_size, hidden_size, **options)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in `module`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
