"""minGRU, minLSTM (Feng et al. 2024) on the `scan` backend, and sLSTM (Beck et al. 2024) on `bptt`.

Each cell: its paper's equations written out here (not the cell's code) against the reference
engine with h0 != 0; gradcheck on the reference; its fast engine equal to the reference to 1e-10 in
float64, gradients (input, initial state, every parameter) included; its parameter count;
`auto` picking that engine; the scan itself on signs and zeros the cells never produce.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import variants
from variants.backends import get_engine
from variants.backends.auto import PREFERENCE, choose_backend, first_supported
from variants.backends.scan import linear_scan, scan
from variants.recording import recording

DT = torch.float64
STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
SCAN_CELLS = ["mingru", "minlstm"]


def _g(v: torch.Tensor) -> torch.Tensor:
    """Feng et al. App. B.3: g(v) = v + 0.5 (v >= 0), sigmoid(v) (v < 0)."""
    out = torch.sigmoid(v)
    return torch.where(v >= 0, v + 0.5, out)


def _inputs(layer, gen, steps=STEPS):
    rows = layer.num_layers * layer.num_directions
    x = torch.randn(steps, BATCH, layer.input_size, dtype=DT, generator=gen)
    state = tuple(torch.randn(rows, BATCH, HIDDEN, dtype=DT, generator=gen)
                  for _ in layer.cell.state_names)
    return x, state


def _run(layer, backend, x, state, weights):
    """Outputs and every gradient of a random linear functional of outputs and final state."""
    layer.backend = backend
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state[0] if len(state) == 1 else state)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    loss = sum((t * w).sum() for t, w in zip([out, *finals], weights, strict=True))
    loss.backward()
    return [out, *finals, x.grad, *(s.grad for s in state),
            *(p.grad for _, p in sorted(layer.named_parameters()))]


def assert_engine_equals_reference(name, backend, steps=STEPS, **options):
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, INPUT, HIDDEN, dtype=DT, generator=gen, **options)
    x, state = _inputs(layer, gen, steps)
    shapes = [(steps, BATCH, HIDDEN * layer.num_directions)] + [s.shape for s in state]
    weights = [torch.randn(shape, dtype=DT, generator=gen) for shape in shapes]
    reference = _run(layer, "reference", x, state, weights)
    fast = _run(layer, backend, x, state, weights)
    assert layer.resolved_backend == backend
    for a, b in zip(fast, reference, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def gradcheck_reference(name, **options):
    gen = torch.Generator().manual_seed(1)
    layer = variants.build(name, 3, 4, dtype=DT, generator=gen, backend="reference", **options)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    n_state = len(layer.cell.state_names)
    x = torch.randn(3, 2, 3, dtype=DT, generator=gen).requires_grad_()
    state = tuple(torch.randn(1, 2, 4, dtype=DT, generator=gen).requires_grad_()
                  for _ in range(n_state))

    def run(x, *rest):
        st, ps = rest[:n_state], rest[n_state:]
        out, final = functional_call(layer, dict(zip(names, ps, strict=True)),
                                     (x, st[0] if n_state == 1 else st))
        return (out, *(final if isinstance(final, tuple) else (final,)))

    assert torch.autograd.gradcheck(run, (x, *state, *params), eps=1e-6, atol=1e-7)


# ---- minGRU / minLSTM ------------------------------------------------------------------------
def _min_paper(layer, x, h, candidate=_g):
    """Feng et al. 2024 Sec. 3.1 (minGRU) / 3.2 (minLSTM), with h~ = g(W_h x + b_h) (App. B.3)."""
    blocks = layer.cell.blocks
    W = dict(zip(blocks, layer.weight_ih_l0.chunk(len(blocks), 0), strict=True))
    b = dict(zip(blocks, layer.bias_ih_l0.chunk(len(blocks), 0), strict=True))
    outs = []
    for x_t in x:
        h_tilde = candidate(x_t @ W["h"].T + b["h"])
        if layer.variant == "mingru":
            z = torch.sigmoid(x_t @ W["z"].T + b["z"])
            h = (1 - z) * h + z * h_tilde
        else:
            f = torch.sigmoid(x_t @ W["f"].T + b["f"])
            i = torch.sigmoid(x_t @ W["i"].T + b["i"])
            h = f / (f + i) * h + i / (f + i) * h_tilde
        outs.append(h)
    return torch.stack(outs), h


@pytest.mark.parametrize("name", SCAN_CELLS)
@pytest.mark.parametrize("candidate", ["g", "identity"])
def test_min_cells_follow_the_paper(name, candidate):
    gen = torch.Generator().manual_seed(2)
    layer = variants.build(name, INPUT, HIDDEN, dtype=DT, generator=gen, backend="reference",
                           candidate_activation=candidate)
    x, (h0,) = _inputs(layer, gen)
    with torch.no_grad():
        out, h_n = layer(x, h0)
        want, want_h = _min_paper(layer, x, h0[0], _g if candidate == "g" else (lambda v: v))
    torch.testing.assert_close(out, want, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], want_h, atol=1e-12, rtol=0)


def test_g_is_the_papers_activation():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0], dtype=DT)
    expected = [1 / (1 + torch.e ** 3), 1 / (1 + torch.e ** 0.5), 0.5, 0.75, 2.5]
    from variants.cells.minimal import g

    torch.testing.assert_close(g(v), torch.tensor(expected, dtype=DT), atol=1e-15, rtol=0)


@pytest.mark.parametrize(("name", "gates"), [("mingru", 2), ("minlstm", 3)])
def test_min_cells_parameter_count_and_init(name, gates):
    """G(HD + H): no recurrent matrix, one bias; nn.Linear's init bound 1/sqrt(D)."""
    d, h = 2, 64
    layer = variants.build(name, d, h, generator=torch.Generator().manual_seed(3))
    assert variants.count_parameters(layer) == gates * (h * d + h)
    assert sorted(n for n, _ in layer.named_parameters()) == ["bias_ih_l0", "weight_ih_l0"]
    w = layer.weight_ih_l0.abs()
    assert w.max() <= 2 ** -0.5 and w.max() > 4 / h ** 0.5  # U(+-1/sqrt(D)), not 1/sqrt(H)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_min_cells_gradcheck_on_reference(name):
    gradcheck_reference(name)


@pytest.mark.parametrize("name", SCAN_CELLS)
@pytest.mark.parametrize(("steps", "options"), [
    (1, {}), (37, {}),  # 37 = chunks of 7 with a padded last chunk
    (20, {"num_layers": 2, "bidirectional": True, "candidate_activation": "identity"}),
])
def test_scan_equals_reference(name, steps, options):
    assert_engine_equals_reference(name, "scan", steps, **options)


def test_scan_is_exact_for_any_sign_zeros_and_h0():
    """The scan against the plain loop where b < 0, b = 0, a = 0, a < 0 and h0 < 0 occur."""
    gen = torch.Generator().manual_seed(4)
    steps = 50
    a = torch.randn(steps, 3, 4, dtype=DT, generator=gen).requires_grad_()
    b = torch.randn(steps, 3, 4, dtype=DT, generator=gen)
    with torch.no_grad():
        a[10:13] = 0.0
        b[20:25] = 0.0
    b.requires_grad_()
    h0 = -torch.rand(3, 4, dtype=DT, generator=gen).requires_grad_()
    w = torch.randn(steps, 3, 4, dtype=DT, generator=gen)
    h, loop = h0, []
    for t in range(steps):
        h = a[t] * h + b[t]
        loop.append(h)
    loop = torch.stack(loop)
    want = torch.autograd.grad((loop * w).sum(), (a, b, h0))
    got_h = scan(a, b, h0)
    got = torch.autograd.grad((got_h * w).sum(), (a, b, h0))
    torch.testing.assert_close(got_h, loop, atol=1e-12, rtol=1e-12)
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(linear_scan(a[:1], b[:1], h0), loop[:1], atol=1e-15, rtol=0)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_auto_picks_scan_for_the_min_cells(name):
    layer = variants.build(name, INPUT, HIDDEN)
    x = torch.zeros(2, 1, INPUT)
    assert choose_backend(layer.cell, x, None) == "scan"
    assert first_supported(PREFERENCE["cuda"], layer.cell, x, None) == "scan"
    assert layer.planned_backend() == "scan"


def test_scan_refuses_what_it_cannot_run():
    x = torch.zeros(2, 1, INPUT)
    gru = variants.build("gru", INPUT, HIDDEN)
    reason = get_engine("scan").supports(gru.cell, x, None)
    assert reason is not None and "scan_coefficients" in reason and "\n" not in reason
    lstm = variants.build("lstm", INPUT, HIDDEN)
    assert "(h,)" in get_engine("scan").supports(lstm.cell, x, None)
    mingru = variants.build("mingru", INPUT, HIDDEN, recurrent_dropout=0.5)
    mask = torch.ones(1, HIDDEN)
    assert "recurrent_dropout" in get_engine("scan").supports(mingru.cell, x, mask)
    assert choose_backend(mingru.cell, x, mask) == "reference"
    with pytest.raises(ValueError, match="no recurrent matrix"):
        mingru.train()(x)  # the reference refuses the mask too: nothing to apply it to


def test_min_cells_record_their_keep_gates():
    gen = torch.Generator().manual_seed(5)
    for name, keep in (("mingru", "keep"), ("minlstm", "f_norm")):
        layer = variants.build(name, INPUT, HIDDEN, dtype=DT, generator=gen, backend="reference")
        x, _ = _inputs(layer, gen)
        with recording(layer.cell) as trace:
            out, _ = layer(x)
        assert layer.cell.keep_gate == keep and len(trace.steps) == STEPS
        gates = trace.steps[1].gates
        if name == "mingru":
            torch.testing.assert_close(gates["keep"], 1 - gates["z"], atol=0, rtol=0)
        else:
            torch.testing.assert_close(gates["f_norm"] + gates["i_norm"],
                                       torch.ones_like(gates["f"]), atol=1e-15, rtol=0)
        # the recorded gates are the ones the step used: h_1 = keep h_0 + (input share) h~
        share = gates["z"] if name == "mingru" else gates["i_norm"]
        torch.testing.assert_close(out[1], gates[keep] * out[0] + share * gates["h_tilde"],
                                   atol=1e-14, rtol=0)
