"""The layer's dropout against independent values (issue 25): the recurrent mask keeps a unit
with probability 1 - p (binomial frequency at p != 0.5); inter-layer dropout sits between
layers only (a hand-composed two-layer forward); every layer AND direction draws its own
recurrent mask (a hand-written bidirectional LSTM with recurrent dropout, in training)."""

from __future__ import annotations

import math

import torch

import variants

STEPS, BATCH, INPUT, HIDDEN = 6, 4, 3, 5
DT = torch.float64


def _lstm(x: torch.Tensor, layer, row: int, mask: torch.Tensor | None = None,
          reverse: bool = False) -> torch.Tensor:
    """torch.nn.LSTM's equations (gates i, f, g, o), written out; `mask` multiplies h_{t-1}
    before the recurrent matmul (Gal & Ghahramani 2016). Outputs in time order (T, B, H)."""
    layer_index, direction = divmod(row, layer.num_directions)
    w = layer.layer_weights(layer_index, direction)
    h = c = x.new_zeros(x.shape[1], HIDDEN)
    outputs = [None] * x.shape[0]
    for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
        h_in = h if mask is None else h * mask
        pre = x[t] @ w.weight_ih.T + w.bias_ih + h_in @ w.weight_hh.T + w.bias_hh
        i, f, g, o = pre.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        outputs[t] = h
    return torch.stack(outputs)


def test_recurrent_mask_keeps_each_unit_with_probability_one_minus_p() -> None:
    """p = 0.2, 4 masks of 100 x 50: the dropped fraction is 0.2 within 4 binomial sds (0.011);
    kept units are scaled by 1 / (1 - p). A mask keeping with probability p drops 0.8."""
    p, batch, hidden = 0.2, 100, 50
    layer = variants.build("lstm", INPUT, hidden, recurrent_dropout=p, num_layers=2,
                           bidirectional=True, dtype=DT, generator=torch.Generator().manual_seed(0))
    masks = layer.recurrent_dropout_masks(batch, DT, torch.device("cpu"))
    assert len(masks) == 4
    values = torch.stack(masks)
    n = values.numel()
    dropped = float((values == 0).double().mean())
    assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / n), dropped
    kept = values[values != 0]
    assert torch.equal(kept, torch.full_like(kept, 1 / (1 - p)))


def test_inter_layer_dropout_is_applied_between_layers_not_after_the_last() -> None:
    """Two layers, dropout 0.4 with a generator: output = layer1(layer0(x) * mask), the mask
    Bernoulli(0.6) / 0.6 drawn once from the generator; nothing drops layer 1's output."""
    p = 0.4
    gen = torch.Generator().manual_seed(3)
    layer = variants.build("lstm", INPUT, HIDDEN, num_layers=2, dropout=p, dtype=DT,
                           generator=gen, backend="reference")
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=torch.Generator().manual_seed(4))
    gen.manual_seed(11)
    output, (h_n, _) = layer.train()(x)
    gen.manual_seed(11)
    mask = torch.empty(STEPS, BATCH, HIDDEN, dtype=DT).bernoulli_(1 - p, generator=gen) / (1 - p)
    assert 0 < int((mask == 0).sum()) < mask.numel()
    with torch.no_grad():
        first = _lstm(x, layer, 0)
        expected = _lstm(first * mask, layer, 1)
    torch.testing.assert_close(output, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[1], expected[-1], atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], first[-1], atol=1e-12, rtol=0)  # layer 0 undropped


def test_each_layer_and_direction_draws_its_own_recurrent_mask() -> None:
    """Bidirectional, two layers, recurrent dropout 0.3, in training: the layer equals the
    hand-written LSTM with mask k (drawn in the order layer 0 fwd, rev, layer 1 fwd, rev) in
    row k, the reverse direction reading from T-1 down to 0."""
    p = 0.3
    gen = torch.Generator().manual_seed(5)
    layer = variants.build("lstm", INPUT, HIDDEN, num_layers=2, bidirectional=True,
                           recurrent_dropout=p, dtype=DT, generator=gen, backend="reference")
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=torch.Generator().manual_seed(6))
    gen.manual_seed(13)
    output, (h_n, _) = layer.train()(x)
    gen.manual_seed(13)
    masks = [torch.empty(BATCH, HIDDEN, dtype=DT).bernoulli_(1 - p, generator=gen) / (1 - p)
             for _ in range(4)]
    assert all(not torch.equal(masks[a], masks[b]) for a in range(4) for b in range(a))
    with torch.no_grad():
        first = torch.cat([_lstm(x, layer, 0, masks[0]),
                           _lstm(x, layer, 1, masks[1], reverse=True)], dim=2)
        forward = _lstm(first, layer, 2, masks[2])
        backward = _lstm(first, layer, 3, masks[3], reverse=True)
    torch.testing.assert_close(output, torch.cat([forward, backward], dim=2), atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[3], backward[0], atol=1e-12, rtol=0)


def test_inter_layer_dropout_without_a_generator_is_torchs_dropout_at_p() -> None:
    """No generator: the mask is torch.nn.functional.dropout's at p = 0.2 on the global RNG,
    drawn once between the layers (the hand-composed forward draws the same numbers)."""
    layer = variants.build("lstm", INPUT, HIDDEN, num_layers=2, dropout=0.2, dtype=DT,
                           backend="reference")
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=torch.Generator().manual_seed(8))
    torch.manual_seed(21)
    output, _ = layer.train()(x)
    torch.manual_seed(21)
    with torch.no_grad():
        expected = _lstm(torch.nn.functional.dropout(_lstm(x, layer, 0), 0.2), layer, 1)
    torch.testing.assert_close(output, expected, atol=1e-12, rtol=0)


def test_inter_layer_dropout_at_p_1_drops_everything() -> None:
    """dropout=1: the second layer reads zeros (with or without a generator)."""
    for generator in (torch.Generator().manual_seed(2), None):
        layer = variants.build("lstm", INPUT, HIDDEN, num_layers=2, dropout=1.0, dtype=DT,
                               backend="reference", generator=generator)
        x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
        output, _ = layer.train()(x)
        with torch.no_grad():
            expected = _lstm(torch.zeros(STEPS, BATCH, HIDDEN, dtype=DT), layer, 1)
        torch.testing.assert_close(output, expected, atol=1e-12, rtol=0)
