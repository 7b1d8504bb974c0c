"""The simplified-gate cells of issue 28 (JANET, UR-LSTM, IndRNN, GRU1-3, MGU) follow their papers.

Each step is checked against the paper's equations transcribed here with explicit per-gate weight
blocks (not the cells' code), from a non-zero initial state, in float64; then parameter counts,
initialisations (chrono, UGI, IndRNN's u), the |u| clip after an optimizer step, their `bptt`
kernels against the reference engine (outputs and every gradient, from h0 != 0, to 1e-10), the
GRU kernels refused for GRU1-3, the recorded keep gates, and the docs' step() example.
Gradients: tests/test_variants_gradcheck.py gradchecks every registered variant on `reference`;
here with options (extra parameters, 2 layers, go_backwards).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import variants
from variants.backends import supports
from variants.cell import REGISTRY, fast_path
from variants.recording import recording

STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
DT = torch.float64
NEW = ("gru1", "gru2", "gru3", "indrnn", "janet", "mgu", "urlstm")


def _blocks(t: torch.Tensor, n: int) -> list[torch.Tensor]:
    return list(t.chunk(n, 0))


def _layer(name: str, seed: int = 0, **options) -> variants.RecurrentLayer:
    gen = torch.Generator().manual_seed(seed)
    layer = variants.build(name, INPUT, HIDDEN, backend="reference", dtype=DT, generator=gen,
                           **options)
    with torch.no_grad():  # non-zero everywhere (torch's init leaves nothing at zero anyway)
        for p in layer.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=DT, generator=gen))
    return layer


def _inputs(seed: int, n_state: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=DT, generator=gen)
    return x, [torch.randn(BATCH, HIDDEN, dtype=DT, generator=gen) for _ in range(n_state)]


def _check(layer, x, state, expected_outs, expected_final) -> None:
    with torch.no_grad():
        given = state[0][None] if len(state) == 1 else tuple(s[None] for s in state)
        out, final = layer(x, given)
    finals = (final,) if isinstance(final, torch.Tensor) else final
    torch.testing.assert_close(out, torch.stack(expected_outs), atol=1e-12, rtol=1e-13)
    for got, want in zip(finals, expected_final, strict=True):
        torch.testing.assert_close(got[0], want, atol=1e-12, rtol=1e-13)


def test_new_cells_are_registered() -> None:
    assert set(NEW) <= set(variants.names())


def test_janet_equations() -> None:
    """s = U_f h + W_f x + b_f; c = s(s) c + (1 - s(s - 1)) tanh(U_c h + W_c x + b_c); h = c."""
    layer = _layer("janet", 1)
    wf, wc = _blocks(layer.weight_ih_l0, 2)
    uf, uc = _blocks(layer.weight_hh_l0, 2)
    bf, bc = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 2)
    x, (h,) = _inputs(1, 1)
    outs = []
    for x_t in x:
        s = h @ uf.T + x_t @ wf.T + bf
        c = torch.sigmoid(s) * h + (1 - torch.sigmoid(s - 1.0)) * torch.tanh(h @ uc.T + x_t @ wc.T
                                                                             + bc)
        h = c
        outs.append(h)
    _check(layer, x, _inputs(1, 1)[1], outs, [h])


def test_urlstm_equations() -> None:
    """f = s(f~ + b_f), r = s(r~ - b_f), g = r(1 - (1-f)^2) + (1-r) f^2, c = g c + (1-g) tanh(u~),
    h = s(o~) tanh(c); tanh once on u~ (Gu et al. 2020)."""
    layer = _layer("urlstm", 2)
    W = _blocks(layer.weight_ih_l0, 4)
    R = _blocks(layer.weight_hh_l0, 4)
    b = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 4)
    b_f = layer.bias_forget_l0
    x, (h, c) = _inputs(2, 2)
    outs = []
    for x_t in x:
        pre = [x_t @ W[k].T + h @ R[k].T + b[k] for k in range(4)]
        f = torch.sigmoid(pre[0] + b_f)
        r = torch.sigmoid(pre[1] - b_f)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
        c = g * c + (1 - g) * torch.tanh(pre[2])
        h = torch.sigmoid(pre[3]) * torch.tanh(c)
        outs.append(h)
    _check(layer, x, _inputs(2, 2)[1], outs, [h, c])
    # the public port's tanh(tanh(u~)) is a different cell: it gives other outputs
    with torch.no_grad():
        out = layer(x, tuple(s[None] for s in _inputs(2, 2)[1]))[0]
    h, c = _inputs(2, 2)[1]
    twice = []
    for x_t in x:
        pre = [x_t @ W[k].T + h @ R[k].T + b[k] for k in range(4)]
        f, r = torch.sigmoid(pre[0] + b_f), torch.sigmoid(pre[1] - b_f)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
        c = g * c + (1 - g) * torch.tanh(torch.tanh(pre[2]))
        h = torch.sigmoid(pre[3]) * torch.tanh(c)
        twice.append(h)
    assert (out - torch.stack(twice)).abs().max() > 1e-3


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_indrnn_equations(nonlinearity: str) -> None:
    """h = act(W x + u * h_prev + b) (Li et al. 2018, eq. 2), u a vector, one bias."""
    layer = _layer("indrnn", 3, nonlinearity=nonlinearity, recurrent_max=2.0)
    act = torch.relu if nonlinearity == "relu" else torch.tanh
    W, b, u = layer.weight_ih_l0, layer.bias_ih_l0, layer.weight_diag_hh_l0
    x, (h,) = _inputs(3, 1)
    h = h.abs()  # a reachable state of the ReLU cell
    start = h.clone()
    outs = []
    for x_t in x:
        h = act(x_t @ W.T + u * h + b)
        outs.append(h)
    _check(layer, x, [start], outs, [h])


@pytest.mark.parametrize("name", ["gru1", "gru2", "gru3"])
def test_dey_salem_gru_variant_equations(name: str) -> None:
    """GRU1: z, r = s(U h + b); GRU2: s(U h); GRU3: s(b); n = tanh(W_n x + U_n (r h) + b_n);
    h = (1 - z) n + z h (z keeps h, the project's GRU convention)."""
    layer = _layer(name, 4)
    W_n, U_n = layer.weight_ih_l0, layer.weight_hh_l0
    b_n = layer.bias_ih_l0 + layer.bias_hh_l0
    U_r = U_z = b_r = b_z = None
    if name in ("gru1", "gru2"):
        U_r, U_z = _blocks(layer.weight_gate_hh_l0, 2)
    if name in ("gru1", "gru3"):
        b_r, b_z = _blocks(layer.bias_gate_l0, 2)
    x, (h,) = _inputs(4, 1)
    outs = []
    for x_t in x:
        if name == "gru1":
            r, z = torch.sigmoid(h @ U_r.T + b_r), torch.sigmoid(h @ U_z.T + b_z)
        elif name == "gru2":
            r, z = torch.sigmoid(h @ U_r.T), torch.sigmoid(h @ U_z.T)
        else:
            r, z = torch.sigmoid(b_r).expand_as(h), torch.sigmoid(b_z).expand_as(h)
        n = torch.tanh(x_t @ W_n.T + (r * h) @ U_n.T + b_n)
        h = (1 - z) * n + z * h
        outs.append(h)
    _check(layer, x, _inputs(4, 1)[1], outs, [h])


def test_mgu_equations() -> None:
    """f = s(W_f x + U_f h + b_f); h~ = tanh(W_h x + U_h (f h) + b_h); h = (1 - f) h + f h~."""
    layer = _layer("mgu", 5)
    wf, wh = _blocks(layer.weight_ih_l0, 2)
    uf, uh = _blocks(layer.weight_hh_l0, 2)
    bf, bh = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 2)
    x, (h,) = _inputs(5, 1)
    outs = []
    for x_t in x:
        f = torch.sigmoid(x_t @ wf.T + h @ uf.T + bf)
        cand = torch.tanh(x_t @ wh.T + (f * h) @ uh.T + bh)
        h = (1 - f) * h + f * cand
        outs.append(h)
    _check(layer, x, _inputs(5, 1)[1], outs, [h])


@pytest.mark.parametrize(("name", "count"), [
    ("janet", lambda d, h: 2 * (h * d + h * h + 2 * h)),
    ("urlstm", lambda d, h: 4 * (h * d + h * h + 2 * h) + h),
    ("indrnn", lambda d, h: h * (d + 2)),
    ("mgu", lambda d, h: 2 * (h * d + h * h + 2 * h)),
    ("gru1", lambda d, h: 3 * h * h + h * d + 4 * h),
    ("gru2", lambda d, h: 3 * h * h + h * d + 2 * h),
    ("gru3", lambda d, h: h * h + h * d + 4 * h),
])
def test_parameter_counts(name: str, count) -> None:
    for d, h in ((3, 5), (7, 4)):
        assert variants.count_parameters(variants.build(name, d, h)) == count(d, h)
    two = variants.build(name, 3, 5, num_layers=2, bidirectional=True)
    assert variants.count_parameters(two) == 2 * count(3, 5) + 2 * count(10, 5)


def test_janet_chrono_init_writes_log_u_into_the_forget_block() -> None:
    """Tallec & Ollivier's b_f = log(u), u ~ U[1, T_max - 1] on block f; the candidate's 0."""
    layer = variants.build("janet", INPUT, HIDDEN, bias_initializer="chrono", chrono_t_max=50,
                           kernel_initializer="zeros", recurrent_initializer="zeros", dtype=DT,
                           generator=torch.Generator().manual_seed(7))
    unit = torch.rand(HIDDEN, dtype=DT, generator=torch.Generator().manual_seed(7))
    f, c = layer.bias_ih_l0.detach().chunk(2)
    torch.testing.assert_close(f, torch.log(1 + 48 * unit), atol=1e-14, rtol=0)
    assert bool((c == 0).all()) and bool((layer.bias_hh_l0 == 0).all())


def test_urlstm_uniform_gate_initialisation() -> None:
    """UGI: b_f = -log(1/u - 1), u ~ U[1/H, 1 - 1/H]: sigmoid(b_f) is exactly that u."""
    hidden = 64
    gen = torch.Generator().manual_seed(3)
    layer = variants.build("urlstm", 2, hidden, dtype=DT, generator=gen,
                           kernel_initializer="zeros", recurrent_initializer="zeros",
                           bias_initializer="zeros")
    u = torch.sigmoid(layer.bias_forget_l0.detach())
    want = 1 / hidden + (1 - 2 / hidden) * torch.rand(hidden, dtype=DT,
                                                      generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(u, want, atol=1e-12, rtol=0)
    assert float(u.min()) >= 1 / hidden and float(u.max()) <= 1 - 1 / hidden
    one = variants.build("urlstm", 2, 1)  # U[1, 0] is empty: u = 1/2 (param budgets build H=1)
    assert float(one.bias_forget_l0.detach()) == 0.0


def test_indrnn_u_init_follows_the_authors_rule() -> None:
    """U(0, 2^(1/T)) below the last layer, U(2^(-1/T), 2^(1/T)) in the last (adding.py)."""
    steps, hidden = 50, 400
    layer = variants.build("indrnn", 2, hidden, num_layers=2, recurrent_steps=steps,
                           generator=torch.Generator().manual_seed(0), dtype=DT)
    top, low = 2 ** (1 / steps), 2 ** (-1 / steps)
    first, last = layer.weight_diag_hh_l0.detach(), layer.weight_diag_hh_l1.detach()
    assert float(first.min()) >= 0 and float(first.max()) <= top and float(first.min()) < 0.1
    assert float(last.min()) >= low and float(last.max()) <= top
    assert variants.build("indrnn", 2, 3, recurrent_initializer="identity") \
        .weight_diag_hh_l0.eq(1).all()
    with pytest.raises(ValueError, match="recurrent_initializer='orthogonal' does not apply"):
        variants.build("indrnn", 2, 3, recurrent_initializer="orthogonal")
    with pytest.raises(ValueError, match="recurrent_max and recurrent_steps"):
        variants.build("indrnn", 2, 3, recurrent_max=1.0, recurrent_steps=10)


def test_indrnn_u_is_clipped_after_each_optimizer_step_not_in_the_forward() -> None:
    steps = 20
    bound = 2 ** (1 / steps)
    layer = variants.build("indrnn", 2, 8, recurrent_steps=steps, dtype=DT,
                           generator=torch.Generator().manual_seed(1))
    other = torch.nn.Parameter(torch.zeros(3, dtype=DT))
    optimizer = torch.optim.SGD([*layer.parameters(), other], lr=1.0)
    with torch.no_grad():  # outside the box, as an update could leave it: the forward uses it
        layer.weight_diag_hh_l0.fill_(3.0)
    x = torch.ones(2, 1, 2, dtype=DT)
    out, _ = layer(x)
    with torch.no_grad():
        h1 = torch.relu(x[0] @ layer.weight_ih_l0.T + layer.bias_ih_l0)
        h2 = torch.relu(x[1] @ layer.weight_ih_l0.T + 3.0 * h1 + layer.bias_ih_l0)
    torch.testing.assert_close(out[1, 0], h2[0], atol=1e-12, rtol=0)
    u = layer.weight_diag_hh_l0
    (out.sum() * 0 + (u * torch.linspace(-5, 5, 8, dtype=DT)).sum() + other.sum()).backward()
    optimizer.step()
    assert float(u.detach().abs().max()) == pytest.approx(bound, abs=1e-15)
    assert bool((u.detach().abs() <= bound).all()) and bool((other == -1).all())  # others free


@pytest.mark.parametrize("name", ["gru1", "gru2", "gru3"])
def test_gru_ablations_refuse_the_gru_kernels_and_get_their_own(name: str) -> None:
    """The inherited gru_cho kernels compute the dropped input term: void (triton, torch's op);
    bptt is the ablation's own kernel, for the paper's activations only."""
    cell = variants.build(name, INPUT, HIDDEN).cell
    x = torch.zeros(2, 1, INPUT)
    assert fast_path(cell, "triton_pointwise")[0] is None
    assert supports("cudnn", cell, x, None) is not None
    assert supports("bptt", cell, x, None) is None
    relu = variants.build(name, INPUT, HIDDEN, activation="relu")
    assert "paper's activations only" in supports("bptt", relu.cell, x, None)
    assert relu.planned_backend() == "reference"


BPTT = [("indrnn", {}), ("indrnn", {"nonlinearity": "tanh", "num_layers": 2}),
        ("janet", {"beta": 0.7}), ("mgu", {}), ("urlstm", {"bidirectional": True}),
        ("gru1", {}), ("gru2", {"num_layers": 2}), ("gru3", {"bidirectional": True})]


@pytest.mark.parametrize(("name", "options"), BPTT)
def test_bptt_kernel_equals_reference_with_gradients_from_a_nonzero_state(name, options) -> None:
    """Outputs, final state and every gradient (x, h0/c0, all parameters incl. u and b_f) agree
    to 1e-10 in float64 over 40 steps (the kernels' backward chunks cross), and auto picks it."""
    layer = _layer(name, 8, **options)
    rows = layer.num_layers * layer.num_directions
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(40, BATCH, INPUT, dtype=DT, generator=gen)
    state = [torch.randn(rows, BATCH, HIDDEN, dtype=DT, generator=gen)
             for _ in layer.cell.state_names]
    weight = torch.randn(40, BATCH, HIDDEN * layer.num_directions, dtype=DT, generator=gen)
    results = {}
    for backend in ("reference", "bptt"):
        layer.backend = backend
        layer.zero_grad()
        xs = x.clone().requires_grad_()
        ss = [s.clone().requires_grad_() for s in state]
        out, final = layer(xs, ss[0] if len(ss) == 1 else tuple(ss))
        finals = (final,) if isinstance(final, torch.Tensor) else final
        ((out * weight).sum() + sum(1.3 * f.sum() for f in finals)).backward()
        assert layer.resolved_backend == backend
        results[backend] = [out, *finals, xs.grad, *(s.grad for s in ss),
                            *(p.grad for _, p in sorted(layer.named_parameters()))]
    for got, want in zip(results["bptt"], results["reference"], strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)
    layer.backend = "auto"
    assert layer.planned_backend() == "bptt"


def test_plain_gru_keeps_its_kernels() -> None:
    x = torch.zeros(2, 1, INPUT)
    for name in ("gru", "gru_cho"):
        cell = variants.build(name, INPUT, HIDDEN).cell
        assert supports("bptt", cell, x, None) is None
    assert supports("cudnn", variants.build("gru", INPUT, HIDDEN).cell, x, None) is None


KEEP = {"janet": "f", "urlstm": "g", "mgu": "keep", "gru1": "z", "gru2": "z", "gru3": "z"}


@pytest.mark.parametrize("name", sorted(KEEP))
def test_recorded_keep_gate_is_the_papers_factor_on_the_previous_memory(name: str) -> None:
    """The gate the diagnostics read as retention is the factor the paper puts on the previous
    memory (JANET s(s), UR-LSTM's effective g, MGU 1 - f, the GRUs' z), computed here."""
    layer = _layer(name, 6)
    cell = layer.cell
    assert cell.keep_gate == KEEP[name] and KEEP[name] in cell.gates
    x, state = _inputs(6, len(cell.state_names))
    with recording(cell) as trace, torch.no_grad():
        layer(x[:1], state[0][None] if len(state) == 1 else tuple(s[None] for s in state))
    trace.check(1)
    x_t, h = x[0], state[0]
    if name in ("janet", "mgu"):
        wf, uf = _blocks(layer.weight_ih_l0, 2)[0], _blocks(layer.weight_hh_l0, 2)[0]
        bf = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 2)[0]
        f = torch.sigmoid(x_t @ wf.T + h @ uf.T + bf)
        want = f if name == "janet" else 1 - f
    elif name == "urlstm":
        W, R = _blocks(layer.weight_ih_l0, 4), _blocks(layer.weight_hh_l0, 4)
        b = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 4)
        f = torch.sigmoid(x_t @ W[0].T + h @ R[0].T + b[0] + layer.bias_forget_l0)
        r = torch.sigmoid(x_t @ W[1].T + h @ R[1].T + b[1] - layer.bias_forget_l0)
        want = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
    elif name == "gru3":
        want = torch.sigmoid(_blocks(layer.bias_gate_l0, 2)[1]).expand_as(h)
    else:
        U_z = _blocks(layer.weight_gate_hh_l0, 2)[1]
        b_z = _blocks(layer.bias_gate_l0, 2)[1] if name == "gru1" else 0.0
        want = torch.sigmoid(h @ U_z.T + b_z)
    with torch.no_grad():
        torch.testing.assert_close(trace.steps[0].gates[KEEP[name]], want, atol=1e-12, rtol=0)


def test_indrnn_declares_no_gates() -> None:
    cell = variants.build("indrnn", 2, 3).cell
    assert cell.gates == () and cell.keep_gate is None


REPO = Path(__file__).resolve().parent.parent


def test_mgu_keep_example_inverts_the_mix_and_is_the_code_the_doc_shows() -> None:
    """examples/mgu_cell (docs/cells-step-example.md): h = f h + (1 - f) h~, f recorded as keep."""
    path = REPO / "examples" / "mgu_cell" / "mgu_cell" / "cell.py"
    spec = importlib.util.spec_from_file_location("mgu_keep_example", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        layer = _layer("mgu_keep", 7)
        wf, wh = _blocks(layer.weight_ih_l0, 2)
        uf, uh = _blocks(layer.weight_hh_l0, 2)
        bf, bh = _blocks(layer.bias_ih_l0 + layer.bias_hh_l0, 2)
        x, (h,) = _inputs(7, 1)
        outs, fs = [], []
        for x_t in x:
            f = torch.sigmoid(x_t @ wf.T + h @ uf.T + bf)
            cand = torch.tanh(x_t @ wh.T + (f * h) @ uh.T + bh)
            h = f * h + (1 - f) * cand
            outs.append(h)
            fs.append(f)
        _check(layer, x, _inputs(7, 1)[1], outs, [h])
        with recording(layer.cell) as trace, torch.no_grad():
            layer(x, _inputs(7, 1)[1][0][None])
        assert layer.cell.keep_gate == "f"
        assert layer.planned_backend() == "reference"  # the MGU's bptt kernel is not its math
        torch.testing.assert_close(trace.steps[2].gates["f"], fs[2], atol=1e-12, rtol=0)
    finally:
        REGISTRY.pop("mgu_keep", None)
    source = path.read_text()
    doc = (REPO / "docs" / "cells-step-example.md").read_text()
    assert source[source.index("import torch"):] in doc
    mgu = (REPO / "variants" / "cells" / "mgu.py").read_text()
    step = mgu[mgu.index("    def step("):mgu.index("    # ---- fast path")].rstrip()
    assert step in doc.replace("    def step(self, xp_t, h_in, carry, weights):",
                               "    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, "
                               "weights: StepWeights) -> Carry:")


@pytest.mark.parametrize(("name", "options"), [
    ("indrnn", {"num_layers": 2, "nonlinearity": "tanh"}),
    ("gru3", {"num_layers": 2}),
    ("janet", {"beta": 0.5, "go_backwards": True}),
])
def test_gradcheck_with_options(name: str, options: dict) -> None:
    """Every parameter (extras: u, b_f, the gates' U and b), the input and a non-zero state."""
    gen = torch.Generator().manual_seed(0)
    layer = variants.build(name, 2, 3, dtype=DT, generator=gen, **options)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    rows = layer.num_layers * layer.num_directions
    n_state = len(layer.cell.state_names)
    x = torch.randn(3, 2, 2, dtype=DT, generator=gen).requires_grad_()
    state = tuple((torch.rand(rows, 2, 3, dtype=DT, generator=gen) + 0.1).requires_grad_()
                  for _ in range(n_state))

    def run(x, *rest):
        st, ps = rest[:n_state], rest[n_state:]
        out, final = torch.func.functional_call(layer, dict(zip(names, ps, strict=True)),
                                                (x, st[0] if n_state == 1 else st))
        return (out, *(final if isinstance(final, tuple) else (final,)))

    assert torch.autograd.gradcheck(run, (x, *state, *params), eps=1e-6, atol=1e-7)
