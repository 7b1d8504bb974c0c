"""The lean training step (issue 27) computes what the previous step computed, bit for bit.

`adam` is `FlatAdam` (gatebench.training.flat_adam): torch's Adam with the CPU update run once
over all parameters laid end to end. Checked against torch's own `torch.optim.Adam`: equal
weights, moments and step counts (float32 and float64, a schedule changing lr, sizes that leave
every vector-loop tail), `state_dict`s that load into each other and go on equally, the options
it leaves to torch; and a real `train()` run (Lightning, clipping, a resume from its checkpoint)
against a plain torch loop written here, with torch's Adam, over the same batches.
"""

from __future__ import annotations

import pytest
import torch

from gatebench.training.clipping import clip_grad_norm
from gatebench.training.flat_adam import FlatAdam


def _params(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 3), (13,), (33, 5), (1,), (2, 2, 9)]  # sizes 21, 13, 165, 1, 36
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in shapes]


def _grads(params: list[torch.Tensor], step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=g, dtype=p.dtype) * 10.0 ** (step % 5 - 3)
            for p in params]


def _run(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: range) -> None:
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0 / (1 + k))
    for step in steps:
        optimizer.zero_grad(set_to_none=True)
        for p, grad in zip(params, _grads(params, step), strict=True):
            p.grad = grad
        optimizer.step()
        schedule.step()


def _assert_same_state(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for index, state in sa["state"].items():
        assert state.keys() == sb["state"][index].keys()
        for key, value in state.items():
            assert torch.equal(value, sb["state"][index][key]), (index, key)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_flat_adam_equals_torch_adam_bit_for_bit(dtype: torch.dtype) -> None:
    options = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-7}
    ours, theirs = _params(dtype), _params(dtype)
    flat, reference = FlatAdam(ours, **options), torch.optim.Adam(theirs, **options)
    _run(flat, ours, range(12))
    _run(reference, theirs, range(12))
    assert flat._flat, "the flat path must have run"
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    _assert_same_state(flat, reference)


def test_state_dicts_load_both_ways_and_go_on_equally() -> None:
    start, ours, theirs = _params(torch.float32), _params(torch.float32), _params(torch.float32)
    first = torch.optim.Adam(start, lr=0.01)
    _run(first, start, range(5))
    # torch's state into FlatAdam (a checkpoint of the previous code), and FlatAdam's back
    flat = FlatAdam(ours, lr=0.01)
    reference = torch.optim.Adam(theirs, lr=0.01)
    with torch.no_grad():
        for a, b, c in zip(ours, theirs, start, strict=True):
            a.copy_(c)
            b.copy_(c)
    flat.load_state_dict(first.state_dict())
    reference.load_state_dict(first.state_dict())
    _run(flat, ours, range(5, 9))
    _run(reference, theirs, range(5, 9))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    back = torch.optim.Adam(theirs, lr=0.01)
    back.load_state_dict(flat.state_dict())
    _assert_same_state(back, flat)


@pytest.mark.parametrize("option", [{"amsgrad": True}, {"weight_decay": 0.1},
                                    {"maximize": True}])
def test_options_it_does_not_flatten_run_torchs_step(option: dict) -> None:
    ours, theirs = _params(torch.float32), _params(torch.float32)
    flat = FlatAdam(ours, lr=0.01, **option)
    reference = torch.optim.Adam(theirs, lr=0.01, **option)
    _run(flat, ours, range(4))
    _run(reference, theirs, range(4))
    assert not flat._flat
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_a_parameter_without_a_gradient_falls_back_and_keeps_torchs_counts() -> None:
    ours, theirs = _params(torch.float32), _params(torch.float32)
    flat, reference = FlatAdam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    _run(flat, ours, range(3))
    _run(reference, theirs, range(3))
    for params, optimizer in ((ours, flat), (theirs, reference)):
        optimizer.zero_grad(set_to_none=True)
        for p, grad in zip(params[1:], _grads(params, 3)[1:], strict=True):
            p.grad = grad  # the first parameter gets none: torch skips it
        optimizer.step()
    _run(flat, ours, range(4, 7))
    _run(reference, theirs, range(4, 7))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    _assert_same_state(flat, reference)


@pytest.mark.parametrize(("scale", "dtype"), [(1e-3, torch.float32), (10.0, torch.float32),
                                              (10.0, torch.float64), (float("nan"), torch.float32),
                                              (float("inf"), torch.float32)])
def test_clip_grad_norm_scales_as_torchs_clip_grad_norm_bit_for_bit(scale, dtype) -> None:
    # below the limit (factor 1, no multiplication), above it, and a non-finite gradient
    # (torch multiplies every gradient by the NaN factor; so must this); the first parameter
    # has no gradient
    ours, theirs = _params(dtype), _params(dtype)
    for params in (ours, theirs):
        for p, grad in zip(params[1:], _grads(params, 3)[1:], strict=True):
            p.grad = grad * 10.0
        params[2].grad[0, 0] = scale
    total = clip_grad_norm(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert ours[0].grad is None and total is not None
    assert torch.equal(total, expected) or (total.isnan() and expected.isnan())
    for a, b in zip(ours[1:], theirs[1:], strict=True):
        assert torch.equal(a.grad.nan_to_num(7.0), b.grad.nan_to_num(7.0))
        assert torch.equal(a.grad.isnan(), b.grad.isnan())


def test_clip_grad_norm_leaves_mixed_dtypes_to_torch() -> None:
    params = _params(torch.float32)
    params[0].data = params[0].data.double()
    for p in params:
        p.grad = torch.ones_like(p)
    assert clip_grad_norm(params, 1.0) is None
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in params)  # untouched


def test_a_non_contiguous_gradient_runs_torchs_step() -> None:
    ours, theirs = _params(torch.float32), _params(torch.float32)
    flat, reference = FlatAdam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    _run(flat, ours, range(2))
    _run(reference, theirs, range(2))
    for params, optimizer in ((ours, flat), (theirs, reference)):
        optimizer.zero_grad(set_to_none=True)
        for p, grad in zip(params, _grads(params, 2), strict=True):
            p.grad = grad
        params[0].grad = _grads(params, 5)[0].t().contiguous().t()  # (7, 3), strides (1, 7)
        optimizer.step()
    assert not ours[0].grad.is_contiguous() and not flat._flat
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    _assert_same_state(flat, reference)
