"""Cell options: a bad value is a one-line error naming the option and what it accepts; a good
one is used (GRU with `activation="relu"` is the GRU equations with relu); `forget_bias` writes
the forget block only (the input gate keeps torch's init; chrono alone also sets b_i)."""

from __future__ import annotations

import pytest
import torch

import variants

INPUT, HIDDEN = 3, 5


@pytest.mark.parametrize("name,option,value,accepted", [
    ("lstm", "activation", "nope", "accepted: tanh, "),
    ("gru", "activation", "nope", "accepted: tanh, "),
    ("lstm", "recurrent_activation", "tanh", "accepted: sigmoid, hard_sigmoid"),
    ("gru", "recurrent_activation", "relu", "accepted: sigmoid, hard_sigmoid"),
    ("rnn", "nonlinearity", "sigmoid", "accepted: tanh, relu"),
    ("lstm", "peepholes", "yes", "accepted: True, False"),
])  # fmt: skip
def test_bad_option_names_itself_and_what_it_accepts(name, option, value, accepted) -> None:
    with pytest.raises(ValueError, match=rf"^{option}={value!r} is not valid; {accepted}"):
        variants.build(name, INPUT, HIDDEN, **{option: value})


def test_gru_activation_option_is_used() -> None:
    g = torch.Generator().manual_seed(0)
    relu = variants.build("gru", INPUT, HIDDEN, backend="reference", activation="relu",
                          dtype=torch.float64, generator=g)
    x = torch.randn(1, 2, INPUT, dtype=torch.float64, generator=g)
    with torch.no_grad():
        out, _ = relu(x)
        Wr, Wz, Wn = relu.weight_ih_l0.chunk(3)
        br, bz, bn = (relu.bias_ih_l0 + torch.cat([relu.bias_hh_l0[:2 * HIDDEN],
                                                   torch.zeros(HIDDEN, dtype=torch.float64)])
                      ).chunk(3)
        r = torch.sigmoid(x[0] @ Wr.T + br)
        z = torch.sigmoid(x[0] @ Wz.T + bz)
        n = torch.relu(x[0] @ Wn.T + bn + r * relu.bias_hh_l0[2 * HIDDEN:])
    torch.testing.assert_close(out[0], (1 - z) * n, atol=1e-12, rtol=0)


def test_forget_bias_leaves_the_input_gate_alone() -> None:
    gen = torch.Generator().manual_seed(1)
    layer = variants.build("peephole", INPUT, HIDDEN, forget_bias=1.0, generator=gen)
    reference = variants.build("peephole", INPUT, HIDDEN,
                               generator=torch.Generator().manual_seed(1))
    i, f, _, _ = layer.bias_ih_l0.detach().chunk(4)
    assert bool((f == 1.0).all())
    torch.testing.assert_close(i, reference.bias_ih_l0.detach().chunk(4)[0], atol=0, rtol=0)
    assert layer.cell.forget_bias_blocks() == {"f": 1.0}
    assert layer.cell.forget_bias_blocks(chrono=True) == {"f": 1.0, "i": -1.0}
    nig = variants.build("nig", INPUT, HIDDEN)
    assert nig.cell.forget_bias_blocks(chrono=True) == {"f": 1.0}
