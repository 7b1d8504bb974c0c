"""Initialisation presets (conf/variant/): each really applies its paper's initialisation."""

from __future__ import annotations

import math

import pytest
import torch

from gatebench.config.build import build_task_and_model


def _layer(full_config, *overrides: str):
    task, model = build_task_and_model(full_config(*overrides, "variant.hidden_size=16"))
    return task, model.layer


def test_irnn_is_relu_with_identity_recurrence_and_zero_biases(full_config) -> None:
    """Le et al. 2015: R = I, b = 0, ReLU; so one step from h0 is relu(W x + h0)."""
    _, layer = _layer(full_config, "variant=irnn", "task=adding")
    torch.testing.assert_close(layer.weight_hh_l0.detach(), torch.eye(16), rtol=0, atol=0)
    assert not layer.bias_ih_l0.detach().any() and not layer.bias_hh_l0.detach().any()
    x = torch.randn(3, 1, layer.input_size, generator=torch.Generator().manual_seed(0))
    h0 = torch.randn(1, 3, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, _ = layer(x, h0)
        expected = torch.relu(x[:, 0] @ layer.weight_ih_l0.T + h0[0])
    torch.testing.assert_close(out[:, 0], expected, rtol=1e-5, atol=1e-6)
    assert (out >= 0).all() and (expected < 0.0).sum() == 0  # relu, not tanh


def test_rnn_orth_has_an_orthogonal_recurrent_matrix(full_config) -> None:
    _, layer = _layer(full_config, "variant=rnn_orth", "task=adding")
    r = layer.weight_hh_l0.detach()
    torch.testing.assert_close(r.T @ r, torch.eye(16), atol=1e-5, rtol=0)
    singular = torch.linalg.svdvals(r)
    torch.testing.assert_close(singular, torch.ones(16), atol=1e-5, rtol=0)
    x = torch.full((1, 1, layer.input_size), 3.0)
    with torch.no_grad():  # tanh: bounded by 1 even for a large input
        assert layer(x)[0].abs().max() < 1


@pytest.mark.parametrize("length", [7, 60])
def test_lstm_chrono_ties_t_max_to_the_task_length(full_config, length: int) -> None:
    """Tallec & Ollivier 2018: b_f = log(u), u in [1, T_max - 1], b_i = -b_f; T_max = length."""
    task, layer = _layer(full_config, "variant=lstm_chrono", "task=adding", f"task.length={length}")
    assert task.length == length
    blocks = layer.cell.blocks
    b_ih, b_hh = layer.bias_ih_l0.detach(), layer.bias_hh_l0.detach()
    f = b_ih.split(16)[blocks.index("f")]
    i = b_ih.split(16)[blocks.index("i")]
    assert f.min() >= 0.0 and f.max() <= math.log(length - 1) + 1e-6
    assert f.max() > math.log(length - 1) - 1.0  # the range really reaches up to log(T_max - 1)
    torch.testing.assert_close(i, -f)
    assert not b_hh.split(16)[blocks.index("f")].any()
