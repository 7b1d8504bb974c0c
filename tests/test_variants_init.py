"""Initializers: torch default, glorot_uniform, per-block orthogonal, zeros, chrono, forget_bias."""

from __future__ import annotations

import math

import pytest
import torch

import variants

INPUT, HIDDEN = 32, 64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "cifg", "fgr"])
def test_orthogonal_gives_orthogonal_gate_blocks(name: str) -> None:
    layer = variants.build(name, INPUT, HIDDEN, recurrent_initializer="orthogonal",
                           kernel_initializer="orthogonal", generator=_gen())
    eye = torch.eye(HIDDEN)
    blocks = layer.weight_hh_l0.detach().split(HIDDEN, 0)
    assert len(blocks) == layer.cell.num_blocks
    for block in blocks:
        torch.testing.assert_close(block.T @ block, eye, atol=1e-5, rtol=0)
    for block in layer.weight_ih_l0.detach().split(HIDDEN, 0):  # (H, I), I < H: orthonormal cols
        torch.testing.assert_close(block.T @ block, torch.eye(INPUT), atol=1e-5, rtol=0)


def test_torch_default_init_bound_and_spread() -> None:
    layer = variants.build("lstm", INPUT, HIDDEN, generator=_gen())
    bound = 1 / math.sqrt(HIDDEN)
    for p in layer.parameters():
        assert p.abs().max() <= bound
    w = layer.weight_hh_l0.detach()
    assert abs(w.std().item() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)


def test_glorot_uniform_matches_keras_limit() -> None:
    layer = variants.build("lstm", INPUT, HIDDEN, kernel_initializer="glorot_uniform",
                           recurrent_initializer="glorot_uniform", generator=_gen())
    for w, fan_in in ((layer.weight_ih_l0, INPUT), (layer.weight_hh_l0, HIDDEN)):
        limit = math.sqrt(6 / (fan_in + 4 * HIDDEN))
        assert w.abs().max() <= limit
        assert abs(w.std().item() - limit / math.sqrt(3)) < 0.05 * limit / math.sqrt(3)


def test_zeros() -> None:
    layer = variants.build("gru", INPUT, HIDDEN, kernel_initializer="zeros",
                           recurrent_initializer="zeros", bias_initializer="zeros")
    assert all(bool((p == 0).all()) for p in layer.parameters())


def test_forget_bias_sets_sum_of_biases() -> None:
    layer = variants.build("lstm", INPUT, HIDDEN, forget_bias=1.0, num_layers=2,
                           bidirectional=True)
    for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        total = (layer.get_parameter("bias_ih" + sfx) + layer.get_parameter("bias_hh" + sfx))
        f = total.detach().chunk(4)[1]
        assert bool((f == 1.0).all())
    cifg = variants.build("cifg", INPUT, HIDDEN, forget_bias=1.0)
    i = (cifg.bias_ih_l0 + cifg.bias_hh_l0).detach().chunk(3)[0]
    assert bool((i == -1.0).all()), "cifg: f = 1 - s(b_i) = s(-b_i), so b_i = -forget_bias"


def test_chrono_init() -> None:
    t_max = 100.0
    layer = variants.build("lstm", INPUT, HIDDEN, bias_initializer="chrono", chrono_t_max=t_max,
                           generator=_gen())
    i, f, g, o = layer.bias_ih_l0.detach().chunk(4)
    assert bool((layer.bias_hh_l0 == 0).all())
    assert bool((f >= 0).all()) and bool((f <= math.log(t_max - 1)).all())
    assert f.max() > math.log(t_max - 1) - 1.0, "log(U[1, T-1]) should reach near log(T-1)"
    torch.testing.assert_close(i, -f)
    assert bool((g == 0).all()) and bool((o == 0).all())


def test_generator_makes_init_reproducible() -> None:
    a = variants.build("peephole", 5, 7, generator=_gen(3)).state_dict()
    b = variants.build("peephole", 5, 7, generator=_gen(3)).state_dict()
    c = variants.build("peephole", 5, 7, generator=_gen(4)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["weight_hh_l0"], c["weight_hh_l0"])
