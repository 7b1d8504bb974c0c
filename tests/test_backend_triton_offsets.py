"""The triton backend refuses sizes whose buffers its 32-bit offsets cannot index (issue 27).

The kernels compute offsets such as ``t * B * gh`` in 32-bit integers; at 2**31 elements they
would wrap silently (pytorch/rl PR #3818). `supports` reads only shapes, so the guard is checked
on CPU under Triton's interpreter with expanded (memory-free) inputs at the limit and one step
below it.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

pytest.importorskip("triton", reason="triton is a dev dependency on Linux")

import variants  # noqa: E402
from variants.backends import supports  # noqa: E402
from variants.cell import fast_path  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize(("name", "hidden", "batch"), [("lstm", 64, 1024), ("gru", 48, 512),
                                                       ("rnn", 32, 2048), ("gru_cho", 16, 96)])
def test_refuses_from_two_to_the_31_elements_and_runs_below(name, hidden, batch):
    layer = variants.build(name, 2, hidden, backend="triton")
    spec, _ = fast_path(layer.cell, "triton_pointwise")
    width = max(spec.n_blocks, spec.n_saved) * hidden  # the widest (T + 1, B, .) buffer
    steps = -(-(2**31) // (batch * width)) - 1  # the fewest steps with (T + 1) B W >= 2**31
    assert (steps + 1) * batch * width >= 2**31 > steps * batch * width
    at_limit = torch.zeros((), device=DEVICE).expand(steps, batch, 2)
    below = torch.zeros((), device=DEVICE).expand(steps - 1, batch, 2)
    reason = supports("triton", layer.cell, at_limit, None)
    assert reason is not None and "32-bit offsets" in reason
    assert f"{(steps + 1) * batch * width} elements" in reason
    assert supports("triton", layer.cell, below, None) is None
    with pytest.raises(ValueError, match="32-bit offsets"):
        layer(at_limit)
