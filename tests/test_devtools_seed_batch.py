"""devtools.seed_batch times the right computation: its stacked model is R independent models."""

from __future__ import annotations

import torch

from devtools.seed_batch import main, stacked_forward


def test_the_stacked_model_is_r_torch_lstms() -> None:
    g = torch.Generator().manual_seed(0)
    r, b, t, i, h = 3, 4, 7, 2, 5
    shapes = [(r, i, h), (r, 1, h), (r, h, 4 * h), (r, h, 4 * h), (r, 1, 4 * h), (r, h, 1),
              (r, 1, 1)]  # fmt: skip
    params = [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]
    x = torch.randn(r, b, t, i, generator=g, dtype=torch.float64)
    stacked = stacked_forward(params, x)
    for k in range(r):
        enc_w, enc_b, w_ih, w_hh, bias, out_w, out_b = (p[k] for p in params)
        lstm = torch.nn.LSTM(h, h, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(w_ih.T)
            lstm.weight_hh_l0.copy_(w_hh.T)
            lstm.bias_ih_l0.copy_(bias[0])
            lstm.bias_hh_l0.zero_()
        out, _ = lstm(x[k] @ enc_w + enc_b)
        torch.testing.assert_close(stacked[k], out[:, -1] @ out_w + out_b, rtol=1e-12, atol=1e-12)


def test_the_probe_prints_its_row(capsys) -> None:
    rows = main(["--sizes", "4x8x5", "--seeds", "2", "--repeats", "1"])
    assert len(rows) == 1 and rows[0]["R"] == 2 and rows[0]["stacked_ms"] > 0
    assert 0 < rows[0]["layer_ms"] and "| 4 | 8 | 5 | 2 |" in capsys.readouterr().out
