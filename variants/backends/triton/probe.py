"""`auto` checks the `triton` kernels against the reference once before it trusts them.

CI tests the kernels only through Triton's CPU interpreter. The interpreter runs a kernel's
programs one after another and its threads as one, so it cannot show a race between the phases of
a step, a miscompile or a limit of one GPU. So before `auto` first sends a cell to `triton` on a
device, it runs a small probe through both `triton` and `run_reference`: 3 steps, batch 20 (two
programs), the layer's own weights and sizes, random input and state. It compares the outputs, the
final state and every gradient. If one differs by more than the dtype allows, or the kernel raises
(e.g. it does not compile for this GPU), `auto` warns once and uses `reference` for that cell,
dtype and device for the rest of the process. A forced
``backend="triton"`` is never probed, nor is a first call inside a CUDA graph capture or a
`torch.compile` trace.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from variants.backends.autocast import autocasting, float32_weights
from variants.cell import Cell
from variants.engine import LayerWeights, run_reference

PROBE_STEPS, PROBE_BATCH = 3, 20

_VERDICTS: dict[tuple, str | None] = {}


def _tolerance(dtype: torch.dtype) -> float:
    """Largest |triton - reference| allowed, relative to the largest |reference| of a tensor."""
    from variants.backends.triton.engine import matmul_precision

    if dtype == torch.float32:
        return 1e-3 if matmul_precision(dtype) == "ieee" else 3e-2
    return 1e-1  # bf16 / fp16


def _key(cell: Cell, dtype: torch.dtype, device: torch.device, weights: LayerWeights) -> tuple:
    from variants.backends.triton.engine import matmul_precision, triton_spec

    spec = triton_spec(cell)
    return (type(cell), spec.forward, spec.backward, spec.flags, spec.kernel,
            cell.hidden_size, weights.weight_ih.shape[1], dtype, str(device),
            matmul_precision(dtype))


def _run(backend, cell: Cell, x: Tensor, state: tuple[Tensor, ...], weights: LayerWeights,
         seed: Tensor) -> list[Tensor]:
    """Outputs, final state and the gradients of a fixed random loss, for one backend."""
    x = x.detach().requires_grad_()
    state = tuple(s.detach().requires_grad_() for s in state)
    params = [p for p in (weights.weight_ih, weights.weight_hh, weights.bias_ih,
                          weights.bias_hh, *weights.extra.values())
              if p is not None and p.requires_grad]
    out, final = backend(cell, x, state, weights, False, None)
    results = [out, *final]
    loss = sum((t.float() * seed[: t.numel()].view_as(t)).sum() for t in results)
    grads = torch.autograd.grad(loss, [x, *state, *params], allow_unused=True)
    return [r.detach() for r in results] + list(grads)


def _first_difference(fused: list[Tensor | None], reference: list[Tensor | None],
                      tol: float) -> str | None:
    """The first tensor that differs by more than `tol` of its largest reference value."""
    for k, (a, b) in enumerate(zip(fused, reference, strict=True)):
        if a is None or b is None:
            if (a is None) != (b is None):
                return f"tensor {k} of outputs/state/gradients is None in one backend only"
            continue
        scale = b.float().abs().max().clamp_min(1e-3)
        error = float((a.float() - b.float()).abs().max() / scale)
        if not error <= tol:  # catches NaN too
            return (f"tensor {k} of outputs/state/gradients differs by {error:.3g} of its "
                    f"largest value (allowed {tol:g})")
    return None


def triton_disagreement(cell: Cell, x: Tensor, weights: LayerWeights) -> str | None:
    """None when `triton` agrees with the reference on the probe for this cell, dtype and
    device; else a one-line description of the first difference (warned once, remembered)."""
    # the dtype the kernel will run in: float32 under autocast (`variants.backends.autocast`)
    under_autocast = autocasting(x)
    dtype = torch.float32 if under_autocast else x.dtype
    key = _key(cell, dtype, x.device, weights)
    if key in _VERDICTS:
        return _VERDICTS[key]
    capturing = x.is_cuda and torch.cuda.is_current_stream_capturing()
    if capturing or torch.compiler.is_compiling():
        return None  # no side runs inside a CUDA graph capture or a compiled trace
    from variants.backends.triton.engine import run_triton

    gen = torch.Generator().manual_seed(0)
    hidden, features = cell.hidden_size, weights.weight_ih.shape[1]
    with (torch.inference_mode(False), torch.enable_grad(),  # the layer may run in eval/no_grad
          torch.autocast(x.device.type, enabled=False)):
        probe_x = torch.randn(PROBE_STEPS, PROBE_BATCH, features, generator=gen)
        state = tuple(torch.randn(PROBE_BATCH, hidden, generator=gen) for _ in cell.state_names)
        seed = torch.randn(PROBE_STEPS * PROBE_BATCH * hidden, generator=gen).to(x.device)
        probe_x = probe_x.to(x.device, dtype)
        state = tuple(s.to(x.device, dtype) for s in state)
        if under_autocast:  # the weights as the kernel will get them
            weights = float32_weights(weights)
        reference = _run(run_reference, cell, probe_x, state, weights, seed)
        try:
            fused = _run(run_triton, cell, probe_x, state, weights, seed)
            verdict = _first_difference(fused, reference, _tolerance(dtype))
        except Exception as error:  # e.g. a kernel that does not compile for this GPU
            verdict = f"it raised {type(error).__name__}: {(str(error) or '?').splitlines()[0]}"
    if verdict is not None:
        warnings.warn(
            f"backend='auto': the triton kernel of {cell.name!r} disagrees with the reference "
            f"on {x.device} ({dtype}): {verdict}; using backend='reference' for it instead",
            RuntimeWarning, stacklevel=3)
    _VERDICTS[key] = verdict
    return verdict
