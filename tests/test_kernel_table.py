"""The compiled kernels read one table: every activation code, run through the C step and through
the Triton kernels' activation (in Triton's interpreter on CPU), equals the torch function the
table names, derivative included; the C struct and header come from the same table."""

from __future__ import annotations

import ctypes
import os

import pytest
import torch

from variants.activations import ACTIVATIONS
from variants.backends import kernel_table
from variants.backends.bptt import native

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # before the jit functions are defined

CODES = sorted(kernel_table.ACTIVATION_CODES.items())

try:  # triton is a dev dependency on Linux
    import triton
    import triton.language as tl

    from variants.backends.triton.cells import act_bwd, act_fwd
except ImportError:
    triton = None
else:
    @triton.jit
    def activation_kernel(x_ptr, y_ptr, dy_ptr, y_in_ptr, n, CODE: tl.constexpr,
                          BLOCK: tl.constexpr):
        """y = act_fwd(x, CODE) and dy = act_bwd(y_in, CODE), as the recurrent kernels call them."""
        offsets = tl.arange(0, BLOCK)
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
        tl.store(y_ptr + offsets, act_fwd(x, CODE), mask=mask)
        y_in = tl.load(y_in_ptr + offsets, mask=mask, other=0.0)
        tl.store(dy_ptr + offsets, act_bwd(y_in, CODE), mask=mask)


def torch_function(name: str):
    """The torch function the table names (the table's "identity" is variants' "linear")."""
    return ACTIVATIONS["linear" if name == "identity" else name]


def sample(dtype: torch.dtype) -> torch.Tensor:
    """Inputs spread over about [-9, 9], none within 1e-3 of a kink (relu at 0, hard_sigmoid at
    +-2.5), where float32 rounding of y could flip a one-sided derivative."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, dtype=torch.float64, generator=gen).mul(3)
    away = ((x.abs() > 1e-3) & ((x.abs() - 2.5).abs() > 1e-3))
    return x[away][:257].to(dtype)


def expected(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y = f(x) and dy/dx (autograd) in float64, f the torch function the table names."""
    x = x.detach().double().requires_grad_()
    y = torch_function(name)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), dy


def test_the_table_names_only_activations_torch_has():
    assert {("linear" if n == "identity" else n) for n in kernel_table.ACTIVATION_CODES} \
        <= set(ACTIVATIONS)
    assert len(set(kernel_table.ACTIVATION_CODES.values())) == len(CODES)
    assert max(kernel_table.ACTIVATION_CODES.values()) <= kernel_table.CODE_MASK


@pytest.mark.parametrize(("dtype", "suffix", "tol"), [(torch.float64, "_f64", 1e-12),
                                                       (torch.float32, "_f32", 2e-6)])
@pytest.mark.parametrize(("name", "code"), CODES)
def test_c_step_activation_matches_torch(name, code, dtype, suffix, tol):
    library = native.library()
    if library is None:
        pytest.skip("no C compiler: the compiled step is not used either")
    x = sample(dtype)
    y_ref, dy_ref = expected(name, x)
    y = x.clone()
    getattr(library, "activation_forward" + suffix)(code, y.data_ptr(), y.numel())
    torch.testing.assert_close(y.double(), y_ref, atol=tol, rtol=tol)
    dy, y_in = torch.empty_like(y), y_ref.to(dtype)  # y_in held: C reads its memory
    getattr(library, "activation_derivative" + suffix)(code, y_in.data_ptr(), dy.data_ptr(),
                                                       y.numel())
    torch.testing.assert_close(dy.double(), dy_ref, atol=tol, rtol=tol)


def test_c_struct_and_header_come_from_the_table():
    library = native.library()
    if library is None:
        pytest.skip("no C compiler")
    fields = [name for name, _ in kernel_table.LSTM_SPEC_FIELDS]
    assert [name for name, _ in native.Spec._fields_] == fields
    for suffix in ("_f32", "_f64"):
        assert getattr(library, "lstm_spec_bytes" + suffix)() == ctypes.sizeof(native.Spec) \
            == 8 * len(fields)
    source = native.SOURCE.read_text()
    assert "#define ACT_" not in source and "typedef struct" not in source  # no second copy
    header = kernel_table.c_header()
    for name, code in kernel_table.ACTIVATION_CODES.items():
        assert f"#define ACT_{name.upper()} {code}\n" in header


def test_the_cache_key_includes_the_header(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEBENCH_CACHE", str(tmp_path))
    before = native.library_path("cc")
    monkeypatch.setattr(kernel_table, "c_header", lambda: "#define ACT_TANH 7\n")
    assert native.library_path("cc") != before


@pytest.mark.parametrize(("name", "code"), CODES)
def test_triton_activation_matches_torch(name, code):
    if triton is None:
        pytest.skip("triton is a dev dependency on Linux")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = sample(torch.float32).to(device)
    y_ref, dy_ref = expected(name, x.cpu())
    y, dy = torch.empty_like(x), torch.empty_like(x)
    y_in = y_ref.float().to(device)
    activation_kernel[(1,)](x, y, dy, y_in, x.numel(), CODE=code, BLOCK=512)
    torch.testing.assert_close(y.cpu().double(), y_ref, atol=2e-6, rtol=2e-6)
    torch.testing.assert_close(dy.cpu().double(), dy_ref, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("name", ["lstm", "peephole", "cifg", "nig", "nfg", "nog", "niaf",
                                  "noaf", "fgr", "gru", "gru_cho", "rnn"])
def test_flag_words_decode_to_the_cells_options(name):
    """What the Triton kernels decode from a cell's FLAGS is what the cell is."""
    pytest.importorskip("triton")
    import variants

    options = {"nonlinearity": "relu"} if name == "rnn" else {
        "recurrent_activation": "hard_sigmoid"}
    cell = variants.build(name, 2, 3, **options).cell
    flags = cell.triton_pointwise().flags
    codes = kernel_table.ACTIVATION_CODES
    mask = kernel_table.CODE_MASK
    if name == "rnn":
        assert flags == codes["relu"]
        return
    if name.startswith("gru"):
        assert flags & mask == codes["tanh"]
        assert flags >> kernel_table.GRU_REC_SHIFT & mask == codes["hard_sigmoid"]
        return
    bits = kernel_table.LSTM_FLAG_BITS
    assert bool(flags & bits["has_i"]) == ("i" in cell.blocks)
    assert bool(flags & bits["has_f"]) == ("f" in cell.blocks)
    assert bool(flags & bits["has_o"]) == ("o" in cell.blocks)
    assert bool(flags & bits["coupled"]) == cell.coupled
    assert bool(flags & bits["peepholes"]) == cell.peepholes
    assert bool(flags & bits["no_input_activation"]) == (not cell.input_activation)
    assert bool(flags & bits["no_output_activation"]) == (not cell.output_activation)
    assert flags >> kernel_table.LSTM_ACT_SHIFT & mask == codes["tanh"]
    assert flags >> kernel_table.LSTM_REC_SHIFT & mask == codes["hard_sigmoid"]
