"""The bptt backend's hard-sigmoid derivative in every branch, end to end (issue 25).

With large weights a third or more of the gate pre-activations lie beyond +-2.5, where Keras 2's
hard sigmoid clip(0.2 x + 0.5, 0, 1) is flat (derivative 0), the rest inside (0.2). Outputs and
every gradient of the bptt backend (its compiled C step and its torch-op path) and of the
native backend must equal the reference engine's autograd in float64. The other tests stay in
the linear range, where a derivative that is 0.2 everywhere would pass.
"""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends.bptt import native as bptt_native
from variants.recording import recording

STEPS, BATCH, INPUT, HIDDEN = 10, 5, 4, 6
DT = torch.float64


# (backend, GATEBENCH_NATIVE): bptt with its compiled C step and with torch ops; the `native`
# backend (the whole time loops in C)
ENGINES = [("bptt", "1"), ("bptt", "0"), ("native", "1")]


def _saturating_layer(name: str):
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, dtype=DT, generator=gen,
                           recurrent_activation="hard_sigmoid", backend="reference")
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(4.0)
    x = 2.0 * torch.randn(STEPS, BATCH, INPUT, generator=gen, dtype=DT)
    return layer, x


def _outputs_and_grads(layer, x: torch.Tensor, backend: str) -> list[torch.Tensor]:
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    out, final = layer(x)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=DT).reshape(out.shape)
    ((out * weights).sum() + sum(f.sum() for f in finals)).backward()
    return [out.detach(), x.grad, *(p.grad for _, p in sorted(layer.named_parameters()))]


@pytest.mark.parametrize("backend, compiled", ENGINES, ids=["bptt-C", "bptt-torch", "native"])
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_compiled_engines_equal_reference_with_saturated_hard_sigmoid_gates(
    name: str, backend: str, compiled: str, monkeypatch
) -> None:
    monkeypatch.setenv("GATEBENCH_NATIVE", compiled)
    if compiled == "1":
        assert bptt_native.steps_for(DT) is not None, "no C compiler for the compiled step"
    layer, x = _saturating_layer(name)
    with torch.no_grad(), recording(layer.cell) as trace:
        layer(x)
    for gate in layer.cell.gates:  # every branch of the derivative is reached, often
        values = torch.stack([step.gates[gate] for step in trace.steps])
        for branch in (values == 0, values == 1, (values > 0) & (values < 1)):
            assert branch.double().mean() > 0.1, gate
    reference = _outputs_and_grads(layer, x, "reference")
    engine = _outputs_and_grads(layer, x, backend)
    assert layer.resolved_backend == backend
    for got, want in zip(engine, reference, strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)
