"""minGRU, minLSTM (Feng et al. 2024) on the `scan` backend, and sLSTM (Beck et al. 2024) on `bptt`.

Each cell: its paper's equations written out here (not the cell's code) against the reference
engine with h0 != 0; gradcheck on the reference; its fast engine equal to the reference to 1e-10 in
float64, gradients (input, initial state, every parameter) included; its parameter count;
`auto` picking that engine; the scan itself on signs and zeros the cells never produce; each
learns the adding problem (neither paper reports it: they are gated RNNs that can store two
marked values, so failing it means a broken cell, init or engine). At T = 50 through the real
runner (slow: 25-30 s each measured at load 10 on 2 cores; solved at 200-700 steps, hidden 32,
lr 0.01); the cheap check in `make test` is a bare loop at T = 20 (hidden 16: solved at
200-400 steps).
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import tasks
import variants
from gatebench.train import train
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
    """x and a random initial state (sLSTM: n > 0, and a random R, which its init sets to 0)."""
    rows = layer.num_layers * layer.num_directions
    x = torch.randn(steps, BATCH, layer.input_size, dtype=DT, generator=gen)
    state = tuple(torch.randn(rows, BATCH, HIDDEN, dtype=DT, generator=gen)
                  for _ in layer.cell.state_names)
    if layer.variant == "slstm":
        h, c, n, m = state
        state = (h, c, n.abs() + 0.5, m)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                if name.startswith("weight_hh"):
                    p.normal_(0.0, 0.5, generator=gen)
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


# ---- sLSTM -----------------------------------------------------------------------------------
def _slstm_paper(layer, x, state, heads, exp_forget):
    """Beck et al. 2024 Sec. 2.2 in the unstabilised form: C_t = f C + i z, N_t = f N + i with
    i = exp(i~), f = sigmoid(f~) or exp(f~), h = o C / N; and m_t = max(log f + m_{t-1}, i~)
    (= i~ from a zero state), c_t = C_t exp(-m_t), n_t = N_t exp(-m_t)."""
    hidden = HIDDEN
    head = hidden // heads
    R = torch.zeros(4 * hidden, hidden, dtype=DT)
    w = layer.weight_hh_l0  # (4H, H/heads): gate k, head j rows k*H + j*head ...
    for k in range(4):
        for j in range(heads):
            rows = slice(k * hidden + j * head, k * hidden + (j + 1) * head)
            R[rows, j * head:(j + 1) * head] = w[rows]
    W = layer.weight_ih_l0
    b = layer.bias_ih_l0
    h, c, n, m = (s[0] for s in state)
    C, N = c * torch.exp(m), n * torch.exp(m)
    zero_start = bool((n == 0).all())
    outs = []
    for t, x_t in enumerate(x):
        i_t, f_t, z_t, o_t = (x_t @ W.T + h @ R.T + b).chunk(4, 1)
        log_f = f_t if exp_forget else torch.log(torch.sigmoid(f_t))
        C = torch.exp(log_f) * C + torch.exp(i_t) * torch.tanh(z_t)
        N = torch.exp(log_f) * N + torch.exp(i_t)
        h = torch.sigmoid(o_t) * C / N
        m = i_t if (t == 0 and zero_start) else torch.maximum(log_f + m, i_t)
        outs.append(h)
    return torch.stack(outs), (h, C * torch.exp(-m), N * torch.exp(-m), m)


@pytest.mark.parametrize(("heads", "forget", "zero"), [
    (1, "sigmoid", False), (2, "exp", False), (3, "sigmoid", True)])
def test_slstm_follows_the_paper(heads, forget, zero):
    gen = torch.Generator().manual_seed(6)
    layer = variants.build("slstm", INPUT, HIDDEN, dtype=DT, generator=gen, backend="reference",
                           heads=heads, forget_gate=forget)
    x, state = _inputs(layer, gen)
    if zero:
        state = tuple(torch.zeros_like(s) for s in state)
    with torch.no_grad():
        out, final = layer(x, state)
        want, want_final = _slstm_paper(layer, x, state, heads, forget == "exp")
    torch.testing.assert_close(out, want, atol=1e-12, rtol=1e-12)
    for got, expected in zip(final, want_final, strict=True):
        torch.testing.assert_close(got[0], expected, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("heads", [1, 2])
def test_slstm_parameter_count_and_init(heads):
    """4(HD + H^2/heads + H); R = 0, b = 0 but the power-law forget bias 5 .. -7 per head."""
    d, h = 16, 32
    layer = variants.build("slstm", d, h, heads=heads, generator=torch.Generator().manual_seed(7))
    assert variants.count_parameters(layer) == 4 * (h * d + h * h // heads + h)
    assert torch.equal(layer.weight_hh_l0, torch.zeros(4 * h, h // heads))
    b_f = layer.bias_ih_l0[h:2 * h].view(heads, h // heads)
    torch.testing.assert_close(b_f[:, 0], torch.full((heads,), 5.0))
    torch.testing.assert_close(b_f[:, -1], torch.full((heads,), -7.0))
    assert bool((b_f[:, 1:] < b_f[:, :-1]).all())
    others = torch.cat([layer.bias_ih_l0[:h], layer.bias_ih_l0[2 * h:]])
    assert torch.equal(others, torch.zeros(3 * h))
    std = layer.weight_ih_l0.std().item()
    assert abs(std / (2 / (5 * d)) ** 0.5 - 1) < 0.1  # N(0, 2/(5D)), 2048 draws


@pytest.mark.parametrize("options", [{"heads": 2, "forget_gate": "exp"}])
def test_slstm_gradcheck_on_reference(options):
    gradcheck_reference("slstm", **options)


@pytest.mark.parametrize(("steps", "options"), [
    (40, {}), (6, {"heads": 3, "forget_gate": "exp", "num_layers": 2, "bidirectional": True})])
def test_slstm_bptt_equals_reference(steps, options):
    assert_engine_equals_reference("slstm", "bptt", steps, **options)


def test_slstm_bptt_equals_reference_from_a_zero_state():
    gen = torch.Generator().manual_seed(8)
    layer = variants.build("slstm", INPUT, HIDDEN, dtype=DT, generator=gen)
    x, _ = _inputs(layer, gen)
    grads = {}
    for backend in ("reference", "bptt"):
        layer.backend = backend
        layer.zero_grad()
        out, (h, c, n, m) = layer(x)
        (out.sum() + c.sum() + m.sum()).backward()
        grads[backend] = [out, *(p.grad for p in layer.parameters())]
    for a, b in zip(grads["bptt"], grads["reference"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_auto_picks_bptt_for_slstm():
    layer = variants.build("slstm", INPUT, HIDDEN)
    x = torch.zeros(2, 1, INPUT)
    assert choose_backend(layer.cell, x, None) == "bptt"
    assert first_supported(PREFERENCE["cuda"], layer.cell, x, None) == "bptt"


def test_slstm_keep_gate_stays_in_unit_interval_with_an_exponential_forget_gate():
    gen = torch.Generator().manual_seed(9)
    layer = variants.build("slstm", INPUT, HIDDEN, dtype=DT, generator=gen, backend="reference",
                           forget_gate="exp")
    x, state = _inputs(layer, gen)
    with torch.no_grad():
        layer.bias_ih_l0[HIDDEN:2 * HIDDEN] = 3.0  # raw forget gate exp(f~) mostly > 1
        with recording(layer.cell) as trace:
            layer(x, state)
    f = torch.stack([s.gates["f"] for s in trace.steps])
    i = torch.stack([s.gates["i"] for s in trace.steps])
    assert layer.cell.keep_gate == "f" and bool(((f > 0) & (f <= 1) & (i > 0) & (i <= 1)).all())
    # one of the two is exactly 1 at every step: m is the larger of log f + m_prev and i~
    assert bool(((f == 1) | (i == 1)).all())


# ---- learning --------------------------------------------------------------------------------
LEARNERS = ["mingru", "minlstm", "slstm"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", LEARNERS)
def test_solves_adding_at_length_50(tiny_config, variant):
    cfg = tiny_config(
        f"variant={variant}", "task=adding", "task.length=50", "variant.hidden_size=32",
        "optimizer.lr=0.01", "data.batch_size=64", "data.val_size=256", "trainer.max_steps=2000",
        "trainer.val_check_interval=50", "threads=1", "logger=none", "test=false")
    record = train(cfg)
    assert record["status"] == "solved", record["final"]
    assert record["final"]["val/mse"] <= 0.05 / 6


@pytest.mark.parametrize("variant", LEARNERS)
def test_learns_adding_20_in_a_bare_loop(variant):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    task = tasks.build("adding", length=20)
    layer = variants.build(variant, task.input_size, 16, batch_first=True, generator=gen)
    readout = torch.nn.Linear(16, task.output_size)
    with torch.no_grad():  # seeded: no global RNG
        readout.weight.uniform_(-0.25, 0.25, generator=gen)
        readout.bias.zero_()
    optimizer = torch.optim.Adam([*layer.parameters(), *readout.parameters()], lr=0.01)
    val = task.batch(256, torch.Generator().manual_seed(1))
    data = torch.Generator().manual_seed(2)
    for step in range(1, 801):
        x, y, mask = task.batch(64, data)
        loss = task.loss(readout(layer(x)[0][:, -1]), y, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0:
            with torch.no_grad():
                metrics = task.metrics(readout(layer(val[0])[0][:, -1]), val[1], val[2])
            if task.solved(metrics):
                break
    assert layer.resolved_backend == ("bptt" if variant == "slstm" else "scan")
    assert task.solved(metrics) and metrics["mse"] <= 0.05 / 6, (step, metrics)


def test_slstm_bptt_retain_graph_gives_the_same_gradients_twice():
    """Its backward overwrites the saved gates in place unless the graph is kept."""
    gen = torch.Generator().manual_seed(10)
    layer = variants.build("slstm", INPUT, HIDDEN, dtype=DT, generator=gen, backend="bptt")
    x, state = _inputs(layer, gen, 12)
    loss = layer(x, state)[0].pow(2).sum()
    first = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(layer.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
