"""Chrono initialisation (Tallec & Ollivier 2018, eq. 16): b_f = log(u), u ~ U[1, T_max - 1],
b_i = -b_f, checked exactly: the same generator stream gives u = 1 + (T_max - 2) * U[0, 1), and
at T_max = 2 the range is the single point u = 1 (b_f = 0 exactly)."""

from __future__ import annotations

import math

import pytest
import torch

import variants

INPUT, HIDDEN = 3, 16
ZERO_WEIGHTS = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}


def _chrono(name: str, t_max: float, seed: int) -> variants.RecurrentLayer:
    # zero weights draw nothing, so the chrono u are the first HIDDEN draws of the generator
    return variants.build(name, INPUT, HIDDEN, bias_initializer="chrono", chrono_t_max=t_max,
                          dtype=torch.float64, generator=torch.Generator().manual_seed(seed),
                          **ZERO_WEIGHTS)


@pytest.mark.parametrize("t_max", [2.0, 3.0, 10.0, 784.0])
def test_forget_bias_is_log_of_u_on_one_to_t_max_minus_one(t_max: float) -> None:
    layer = _chrono("lstm", t_max, seed=5)
    unit = torch.rand(HIDDEN, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    expected = torch.log(1.0 + (t_max - 2.0) * unit)
    i, f, g, o = layer.bias_ih_l0.detach().chunk(4)
    torch.testing.assert_close(f, expected, atol=1e-14, rtol=1e-14)
    torch.testing.assert_close(i, -expected, atol=0, rtol=0)
    assert bool((g == 0).all()) and bool((o == 0).all())
    assert bool((layer.bias_hh_l0 == 0).all())
    assert float(f.min()) >= 0.0 and float(f.max()) < math.log(t_max - 1) + 1e-15


def test_t_max_two_gives_a_zero_forget_bias_exactly() -> None:
    layer = _chrono("lstm", 2.0, seed=0)
    assert bool((layer.bias_ih_l0 == 0).all())


def test_cifg_writes_minus_log_u_into_its_input_gate() -> None:
    """cifg has f = 1 - i, so chrono's forget bias log(u) becomes b_i = -log(u)."""
    layer = _chrono("cifg", 50.0, seed=2)
    unit = torch.rand(HIDDEN, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    i, g, o = layer.bias_ih_l0.detach().chunk(3)
    torch.testing.assert_close(i, -torch.log(1.0 + 48.0 * unit), atol=1e-14, rtol=1e-14)
    assert bool((g == 0).all()) and bool((o == 0).all())
