"""The GRU's equations, written out gate by gate, on the reference engine (the cells' own code):
torch's reset-after form (Cho et al. 2014 as in cuDNN / torch.nn.GRU docs) and the Elman RNN."""

from __future__ import annotations

import torch

import variants

STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
DT = torch.float64


def _blocks(tensor: torch.Tensor, n: int) -> list[torch.Tensor]:
    return list(tensor.chunk(n, 0))


def test_gru_reset_after_equations() -> None:
    """r = s(W_r x + b_ir + R_r h + b_hr); z = s(W_z x + b_iz + R_z h + b_hz);
    n = tanh(W_n x + b_in + r * (R_n h + b_hn)); h' = (1 - z) * n + z * h."""
    g = torch.Generator().manual_seed(7)
    layer = variants.build("gru", INPUT, HIDDEN, backend="reference", dtype=DT, generator=g)
    Wr, Wz, Wn = _blocks(layer.weight_ih_l0, 3)
    Rr, Rz, Rn = _blocks(layer.weight_hh_l0, 3)
    bir, biz, bin_ = _blocks(layer.bias_ih_l0, 3)
    bhr, bhz, bhn = _blocks(layer.bias_hh_l0, 3)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=g)
    h = torch.randn(BATCH, HIDDEN, dtype=DT, generator=g)
    with torch.no_grad():
        out, h_n = layer(x, h[None])
        refs = []
        for x_t in x:
            r = torch.sigmoid(x_t @ Wr.T + bir + h @ Rr.T + bhr)
            z = torch.sigmoid(x_t @ Wz.T + biz + h @ Rz.T + bhz)
            n = torch.tanh(x_t @ Wn.T + bin_ + r * (h @ Rn.T + bhn))
            h = (1 - z) * n + z * h
            refs.append(h)
    torch.testing.assert_close(out, torch.stack(refs), atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)


def test_elman_equation() -> None:
    """h' = tanh(W x + b_ih + R h + b_hh) (Elman 1990; torch.nn.RNN)."""
    g = torch.Generator().manual_seed(8)
    layer = variants.build("rnn", INPUT, HIDDEN, backend="reference", dtype=DT, generator=g)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=g)
    h = torch.zeros(BATCH, HIDDEN, dtype=DT)
    with torch.no_grad():
        out, _ = layer(x)
        refs = []
        for x_t in x:
            h = torch.tanh(x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0
                           + h @ layer.weight_hh_l0.T + layer.bias_hh_l0)
            refs.append(h)
    torch.testing.assert_close(out, torch.stack(refs), atol=1e-12, rtol=0)


def test_lstm_pointwise_is_step_given_the_recurrent_projection() -> None:
    """Backends call `pointwise(xp, h R^T, carry, extra)`; for every LSTM preset but fgr it is
    the same math as the reference `step` (fgr's previous gates included)."""
    from variants.cell import StepWeights

    g = torch.Generator().manual_seed(9)
    for name in ("lstm", "peephole", "cifg", "nig", "nfg", "nog", "niaf", "noaf", "fgr"):
        layer = variants.build(name, INPUT, HIDDEN, backend="reference", dtype=DT, generator=g)
        cell, w = layer.cell, layer.layer_weights(0, 0)
        weights = cell.prepare_weights(StepWeights(w.weight_hh.t(), None, dict(w.extra)))
        xp = torch.randn(BATCH, cell.num_blocks * HIDDEN, dtype=DT, generator=g)
        h, c = (torch.randn(BATCH, HIDDEN, dtype=DT, generator=g) for _ in range(2))
        carry = cell.initial_carry((h, c))
        with torch.no_grad():
            by_step = cell.step(xp, h, carry, weights)
            by_pointwise = cell.pointwise(xp, h @ w.weight_hh.t(), carry, weights.extra)
        for a, b in zip(by_step, by_pointwise, strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
