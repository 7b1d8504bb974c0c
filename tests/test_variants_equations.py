"""Each preset obeys its published equations (Greff et al. 2017; Cho et al. 2014), step by step.

The reference below is a direct, independent transcription of the equations with explicit gates;
each preset only overrides its defining property (cifg: f = 1 - i, nfg: f = 1, ...).
"""

from __future__ import annotations

import pytest
import torch

import variants

STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
DT = torch.float64
# The cells' own code (variants/cells/) runs only in the reference engine; fast backends are
# compared with the reference in tests/test_backend_*.py, so a wrong cell fails here and a wrong
# kernel fails there.
REFERENCE = "reference"


def _blocks(tensor: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return dict(zip(names, tensor.chunk(len(names), 0), strict=True))


def greff_reference(layer: variants.RecurrentLayer, x: torch.Tensor, h: torch.Tensor,
                    c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Greff et al. 2017 eqs. (V and its variants), one explicit step at a time."""
    name, cell = layer.variant, layer.cell
    names = cell.blocks
    W = _blocks(layer.weight_ih_l0, names)
    R = _blocks(layer.weight_hh_l0, names)
    b = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, names)
    gates = cell.sigmoid_gates
    p = dict(zip(gates, layer.weight_peephole_l0, strict=True)) if cell.peepholes else {}
    G = None
    prev: dict[str, torch.Tensor] = {}
    if name == "fgr":
        G = {(dst, src): layer.weight_gate_hh_l0[k * HIDDEN:(k + 1) * HIDDEN,
                                                 j * HIDDEN:(j + 1) * HIDDEN]
             for k, dst in enumerate(gates) for j, src in enumerate(gates)}
        prev.update({g: torch.zeros(BATCH, HIDDEN, dtype=DT) for g in gates})

    def pre(k: str, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z = x_t @ W[k].T + h @ R[k].T + b[k]
        if G is not None and k in gates:
            z = z + sum(prev[src] @ G[(k, src)].T for src in gates)
        return z

    outs = []
    for x_t in x:
        i = torch.sigmoid(pre("i", x_t, h) + p["i"] * c) if "i" in names else torch.ones_like(c)
        if name == "cifg":
            f = 1 - i
        elif name == "nfg":
            f = torch.ones_like(c)
        else:
            f = torch.sigmoid(pre("f", x_t, h) + p["f"] * c)
        g = pre("g", x_t, h) if name == "niaf" else torch.tanh(pre("g", x_t, h))
        c = f * c + i * g
        o = torch.sigmoid(pre("o", x_t, h) + p["o"] * c) if "o" in names else torch.ones_like(c)
        h = o * c if name == "noaf" else o * torch.tanh(c)
        if G is not None:
            prev.update({"i": i, "f": f, "o": o})
        outs.append(h)
    return torch.stack(outs), h, c


@pytest.mark.parametrize("name", ["peephole", "cifg", "nig", "nfg", "nog", "niaf", "noaf", "fgr"])
def test_greff_variant_equations(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, backend=REFERENCE, dtype=DT, generator=g)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=g)
    h0 = torch.randn(BATCH, HIDDEN, dtype=DT, generator=g)
    c0 = torch.randn(BATCH, HIDDEN, dtype=DT, generator=g)
    with torch.no_grad():
        out, (h, c) = layer(x, (h0[None], c0[None]))
        ref_out, ref_h, ref_c = greff_reference(layer, x, h0, c0)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(h[0], ref_h, atol=1e-12, rtol=0)
    torch.testing.assert_close(c[0], ref_c, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name,blocks", [
    ("lstm", ("i", "f", "g", "o")), ("peephole", ("i", "f", "g", "o")), ("cifg", ("i", "g", "o")),
    ("nig", ("f", "g", "o")), ("nfg", ("i", "g", "o")), ("nog", ("i", "f", "g")),
])
def test_gate_blocks_follow_torch_order(name: str, blocks: tuple[str, ...]) -> None:
    layer = variants.build(name, INPUT, HIDDEN)
    assert layer.cell.blocks == blocks
    assert layer.weight_hh_l0.shape == (len(blocks) * HIDDEN, HIDDEN)


def _copy_shared(src: variants.RecurrentLayer, dst: variants.RecurrentLayer) -> None:
    with torch.no_grad():
        for name, param in dst.named_parameters():
            param.copy_(src.get_parameter(name) if hasattr(src, name) else torch.zeros_like(param))


def test_peephole_with_zero_peepholes_is_lstm() -> None:
    lstm = variants.build("lstm", INPUT, HIDDEN, backend=REFERENCE, num_layers=2,
                          bidirectional=True, dtype=DT)
    peephole = variants.build("peephole", INPUT, HIDDEN, backend=REFERENCE, num_layers=2,
                              bidirectional=True, dtype=DT)
    assert peephole.weight_peephole_l1_reverse.shape == (3, HIDDEN)
    _copy_shared(lstm, peephole)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
    torch.testing.assert_close(peephole(x)[0], lstm(x)[0], atol=1e-12, rtol=0)
    with torch.no_grad():
        peephole.weight_peephole_l0.fill_(0.5)
    assert not torch.allclose(peephole(x)[0], lstm(x)[0])


def test_fgr_with_zero_gate_recurrence_is_peephole() -> None:
    peephole = variants.build("peephole", INPUT, HIDDEN, backend=REFERENCE, dtype=DT)
    fgr = variants.build("fgr", INPUT, HIDDEN, backend=REFERENCE, dtype=DT)
    assert fgr.weight_gate_hh_l0.shape == (3 * HIDDEN, 3 * HIDDEN)
    _copy_shared(peephole, fgr)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT)
    out_f, (h_f, c_f) = fgr(x)
    out_p, (h_p, c_p) = peephole(x)
    torch.testing.assert_close(out_f, out_p, atol=1e-12, rtol=0)
    torch.testing.assert_close(c_f, c_p, atol=1e-12, rtol=0)


def test_gru_cho_matches_cho_equations() -> None:
    """Cho et al. 2014 eqs. 5-8: r, z gates; h~ = tanh(W x + U (r * h)); h = z h + (1 - z) h~."""
    g = torch.Generator().manual_seed(1)
    layer = variants.build("gru_cho", INPUT, HIDDEN, backend=REFERENCE, dtype=DT, generator=g)
    W = _blocks(layer.weight_ih_l0, ("r", "z", "n"))
    U = _blocks(layer.weight_hh_l0, ("r", "z", "n"))
    bi = _blocks(layer.bias_ih_l0, ("r", "z", "n"))
    bh = _blocks(layer.bias_hh_l0, ("r", "z", "n"))
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=g)
    h = torch.randn(BATCH, HIDDEN, dtype=DT, generator=g)
    with torch.no_grad():
        out, h_n = layer(x, h[None])
        refs = []
        for x_t in x:
            r = torch.sigmoid(x_t @ W["r"].T + bi["r"] + h @ U["r"].T + bh["r"])
            z = torch.sigmoid(x_t @ W["z"].T + bi["z"] + h @ U["z"].T + bh["z"])
            n = torch.tanh(x_t @ W["n"].T + bi["n"] + (r * h) @ U["n"].T + bh["n"])
            h = z * h + (1 - z) * n
            refs.append(h)
    torch.testing.assert_close(out, torch.stack(refs), atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)
    gru = variants.build("gru", INPUT, HIDDEN, backend=REFERENCE, dtype=DT)
    gru.load_state_dict(layer.state_dict())
    assert not torch.allclose(gru(x)[0], out), "reset-before and reset-after must differ"


def test_hard_sigmoid_is_keras2_definition() -> None:
    from variants.activations import hard_sigmoid

    x = torch.tensor([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0])
    expected = torch.tensor([0.0, 0.0, 0.3, 0.5, 0.7, 1.0, 1.0])
    torch.testing.assert_close(hard_sigmoid(x), expected)


def test_recurrent_activation_and_activation_are_used() -> None:
    """hard_sigmoid / relu options change the lstm exactly as the equations say (one step)."""
    from variants.activations import hard_sigmoid

    layer = variants.build("lstm", INPUT, HIDDEN, backend=REFERENCE, dtype=DT,
                           recurrent_activation="hard_sigmoid", activation="relu")
    x = torch.randn(1, BATCH, INPUT, dtype=DT)
    with torch.no_grad():
        out, (h, c) = layer(x)
        pre = x[0] @ layer.weight_ih_l0.T + layer.bias_ih_l0 + layer.bias_hh_l0
        i, f, gg, o = pre.chunk(4, 1)
        c_ref = hard_sigmoid(i) * torch.relu(gg)
        h_ref = hard_sigmoid(o) * torch.relu(c_ref)
    torch.testing.assert_close(c[0], c_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(out[0], h_ref, atol=1e-12, rtol=0)
