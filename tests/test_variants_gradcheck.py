"""torch.autograd.gradcheck in float64 for every variant and option that changes the math."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import variants

STEPS, BATCH, INPUT, HIDDEN = 3, 2, 3, 4


def _check(name: str, **options: object) -> None:
    g = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, dtype=torch.float64, generator=g, **options)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in layer.named_parameters())
    n_state = len(layer.cell.state_names)
    rows = layer.num_layers * layer.num_directions
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64, generator=g).requires_grad_()
    state = tuple(torch.randn(rows, BATCH, HIDDEN, dtype=torch.float64, generator=g)
                  .requires_grad_() for _ in range(n_state))

    def run(x: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        st, ps = rest[:n_state], rest[n_state:]
        output, final = functional_call(layer, dict(zip(names, ps, strict=True)),
                                        (x, st[0] if n_state == 1 else st))
        return (output, *(final if isinstance(final, tuple) else (final,)))

    assert torch.autograd.gradcheck(run, (x, *state, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", variants.names())
def test_gradcheck_every_variant(name: str) -> None:
    _check(name)


@pytest.mark.parametrize("name,options", [
    ("lstm", {"bidirectional": True}),
    ("rnn", {"nonlinearity": "relu"}),
    ("gru", {"recurrent_activation": "hard_sigmoid", "activation": "relu"}),
    ("peephole", {"recurrent_activation": "hard_sigmoid"}),
    ("cifg", {"peepholes": False, "bias": False}),
    ("gru_cho", {"go_backwards": True}),
])
def test_gradcheck_options(name: str, options: dict) -> None:
    _check(name, **options)
