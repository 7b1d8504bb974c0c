"""`layer.resolved_backend` names the engine a forward really ran (what `auto` resolved to), and
`layer.planned_backend()` says it before any forward, without running or drawing anything."""

from __future__ import annotations

import pytest
import torch

import variants
from variants.backends import BACKENDS, Engine, get_engine, register_backend


@pytest.fixture
def spied() -> dict[str, int]:
    """Wrap the real `native`, `bptt` and `reference` backends to count their calls (their
    `supports` kept as is)."""
    calls = {"native": 0, "bptt": 0, "reference": 0}
    originals = {name: BACKENDS[name] for name in calls}

    def spy(name):
        real = get_engine(name)

        def run(*args):
            calls[name] += 1
            return real.run(*args)

        return Engine(run, real.supports)

    for name in calls:
        register_backend(name, spy(name))
    yield calls
    BACKENDS.update(originals)


def test_auto_on_cpu_names_the_engine_that_ran(spied) -> None:
    layer = variants.build("lstm", 3, 8, num_layers=2, bidirectional=True)
    assert layer.resolved_backend is None
    rng = torch.get_rng_state()
    assert layer.planned_backend() == "native"  # auto on CPU at H <= 128
    assert torch.equal(rng, torch.get_rng_state())  # planning draws nothing
    assert spied == {"native": 0, "bptt": 0, "reference": 0}
    layer(torch.randn(5, 2, 3))
    assert layer.resolved_backend == "native"
    assert spied == {"native": 4, "bptt": 0, "reference": 0}


def test_recurrent_dropout_trains_on_reference_and_evaluates_on_native(spied) -> None:
    layer = variants.build("gru", 3, 8, recurrent_dropout=0.25)
    assert layer.planned_backend() == "reference"
    layer(torch.randn(5, 2, 3))
    assert layer.resolved_backend == "reference" and spied["reference"] == 1
    layer.eval()
    assert layer.planned_backend() == "native"
    layer(torch.randn(5, 2, 3))
    assert layer.resolved_backend == "native" and spied["native"] == 1


def test_a_forced_backend_is_named_as_is(spied) -> None:
    layer = variants.build("lstm", 3, 8, backend="reference")
    assert layer.planned_backend() == "reference"
    layer(torch.randn(4, 1, 3))
    assert layer.resolved_backend == "reference"
    assert spied == {"native": 0, "bptt": 0, "reference": 1}
