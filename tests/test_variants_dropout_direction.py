"""Recurrent dropout (Gal & Ghahramani 2016: one mask per sequence) and go_backwards (Keras)."""

from __future__ import annotations

import pytest
import torch

import variants

STEPS, BATCH, INPUT, HIDDEN = 8, 3, 5, 16
DT = torch.float64


def test_recurrent_dropout_mask_is_the_same_at_every_step() -> None:
    """With B = 1, a hidden unit dropped at every step gets exactly zero gradient in its R column.

    A unit's column of R only sees h_prev[j] * mask[j]; if the mask were redrawn per step, a
    column would be zero only if the unit was dropped at all steps (probability 2^-(T-1)).
    """
    layer = variants.build("lstm", INPUT, HIDDEN, recurrent_dropout=0.5, dtype=DT,
                           generator=torch.Generator().manual_seed(0))
    x = torch.randn(STEPS, 1, INPUT, dtype=DT)
    layer(x)[0].sum().backward()
    column_zero = (layer.weight_hh_l0.grad == 0).all(0)
    assert 0 < int(column_zero.sum()) < HIDDEN


@pytest.mark.parametrize("name", ["lstm", "gru", "gru_cho", "fgr", "rnn"])
def test_recurrent_dropout_equals_manual_masked_loop(name: str) -> None:
    """Reproduce the layer's forward with the mask from `recurrent_dropout_masks`, step by step."""
    layer = variants.build(name, INPUT, HIDDEN, recurrent_dropout=0.3, dtype=DT,
                           generator=torch.Generator().manual_seed(5))
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
    layer.generator.manual_seed(7)
    output, _ = layer(x)
    layer.generator.manual_seed(7)
    (mask,) = layer.recurrent_dropout_masks(BATCH, DT, x.device)
    assert set(mask.unique().tolist()) <= {0.0, 1 / 0.7}
    cell, weights = layer.cell, layer.layer_weights(0, 0)
    from variants.engine import input_projection, step_weights

    projected = input_projection(cell, x, weights)
    per_step = step_weights(cell, weights)
    carry = cell.initial_carry(tuple(torch.zeros(BATCH, HIDDEN, dtype=DT)
                                     for _ in cell.state_names))
    manual = []
    for t in range(STEPS):
        carry = cell.step(projected[t], carry[0] * mask, carry, per_step)
        manual.append(carry[0])
    torch.testing.assert_close(output, torch.stack(manual), atol=1e-12, rtol=0)


def test_recurrent_dropout_absent_in_eval() -> None:
    dropped = variants.build("gru", INPUT, HIDDEN, recurrent_dropout=0.5, dtype=DT)
    plain = variants.build("gru", INPUT, HIDDEN, dtype=DT)
    plain.load_state_dict(dropped.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
    assert dropped.eval().recurrent_dropout_masks(BATCH, DT, x.device) is None
    torch.testing.assert_close(dropped(x)[0], plain(x)[0], atol=0, rtol=0)
    assert not torch.allclose(dropped.train()(x)[0], plain(x)[0])


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_go_backwards_reads_from_the_end_and_returns_processing_order(name: str) -> None:
    backwards = variants.build(name, INPUT, HIDDEN, go_backwards=True, batch_first=True,
                               num_layers=2, dtype=DT)
    forwards = variants.build(name, INPUT, HIDDEN, batch_first=True, num_layers=2, dtype=DT)
    forwards.load_state_dict(backwards.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, dtype=DT)
    out_b, state_b = backwards(x)
    out_f, state_f = forwards(x.flip(1))
    torch.testing.assert_close(out_b, out_f, atol=0, rtol=0)
    for a, b in zip(torch.utils._pytree.tree_leaves(state_b),
                    torch.utils._pytree.tree_leaves(state_f), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    first, _ = forwards(x[:, -1:])  # output[:, 0] is the output after reading only x[:, T-1]
    torch.testing.assert_close(out_b[:, :1], first, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", variants.names())
def test_reverse_direction_is_the_cell_run_on_the_flipped_sequence(name: str) -> None:
    """Bidirectional: the second half of the features is the cell run from T-1 down to 0."""
    both = variants.build(name, INPUT, HIDDEN, bidirectional=True, dtype=DT)
    single = variants.build(name, INPUT, HIDDEN, dtype=DT)
    single.load_state_dict({k.replace("_reverse", ""): v for k, v in both.state_dict().items()
                            if k.endswith("_reverse")})
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
    out, state = both(x)
    out_single, state_single = single(x.flip(0))
    torch.testing.assert_close(out[..., HIDDEN:], out_single.flip(0), atol=1e-12, rtol=0)
    for a, b in zip(torch.utils._pytree.tree_leaves(state),
                    torch.utils._pytree.tree_leaves(state_single), strict=True):
        torch.testing.assert_close(a[1], b[0], atol=1e-12, rtol=0)
