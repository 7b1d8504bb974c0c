"""The diagnostics of one trace: gate activity, saturation, memory retention, gradient ratio.

All take batch-first tensors (B, T, H) or (B, T) and return numpy arrays (float64).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gatebench.diagnostics.store import QUANTILES

SATURATION_LOW, SATURATION_HIGH = 0.05, 0.95


def gate_activity(values: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the mean (T,) and the `QUANTILES` (T, Q) over batch and units of (B, T, H)."""
    per_step = values.detach().double().transpose(0, 1).reshape(values.shape[1], -1)
    q = torch.tensor(QUANTILES, dtype=per_step.dtype, device=per_step.device)
    return per_step.mean(1).cpu().numpy(), torch.quantile(per_step, q, dim=1).T.cpu().numpy()


def saturation(values: Tensor) -> np.ndarray:
    """Per step (T,): the fraction of gate units below 0.05 or above 0.95 (batch and units)."""
    v = values.detach()
    saturated = (v < SATURATION_LOW) | (v > SATURATION_HIGH)
    return saturated.double().mean(dim=(0, 2)).cpu().numpy()


def retention(keep: Tensor, readout: Tensor) -> Tensor:
    """(B, T) float64: the mean over units of prod_{s = t+1}^{r_b} keep_s, the share of what was
    written at step t that survives to the readout step r_b (Gers et al. 2000: c_t = f_t c_{t-1}
    + ...; GRU, torch's convention: h_t = z_t h_{t-1} + ...). 1 at t = r_b; NaN after it.

    Computed as exp of a difference of cumulative log-gates (no underflow of the product).
    """
    logs = torch.log(keep.detach().double().clamp_min(1e-300)).cumsum(dim=1)  # (B, T, H)
    r = readout.to(logs.device).long().view(-1, 1, 1).expand(-1, 1, logs.shape[2])
    at_readout = logs.gather(1, r)  # sum_{s <= r} log keep_s
    kept = torch.exp(at_readout - logs).mean(dim=2)
    steps = torch.arange(logs.shape[1], device=logs.device)
    return kept.masked_fill(steps[None, :] > readout.to(logs.device)[:, None], float("nan"))


def best_kept_unit(keep: Tensor, first: int, readout: int) -> np.ndarray:
    """(T,): the keep gate over time of the unit (of one sequence's (T, H) keep gates) whose
    product from step `first` + 1 to `readout` is the largest: the unit that carries the value
    written at `first` to the readout (a "memory unit")."""
    k = keep.detach().double()
    kept = torch.log(k[first + 1 : readout + 1].clamp_min(1e-300)).sum(dim=0)
    return k[:, int(kept.argmax())].cpu().numpy()


def at_positions(per_step: Tensor, positions: Tensor) -> np.ndarray:
    """(B, T) values read at (B, P) positions -> (B, P) numpy."""
    return per_step.gather(1, positions.to(per_step.device).long()).cpu().numpy()


def gradient_ratio(norms: Tensor, first: Tensor, readout: Tensor) -> np.ndarray:
    """(B,): ||dL/ds_first|| / ||dL/ds_readout|| per sequence (NaN where the readout's is 0)."""
    n = norms.detach().double()
    top = n.gather(1, first.to(n.device).long().view(-1, 1)).squeeze(1)
    bottom = n.gather(1, readout.to(n.device).long().view(-1, 1)).squeeze(1)
    ratio = top / bottom
    return ratio.masked_fill(bottom == 0, float("nan")).cpu().numpy()


def norm_profile(norms: Tensor) -> np.ndarray:
    """(T, Q): the `QUANTILES` over the batch of per-sequence gradient norms (B, T)."""
    n = norms.detach().double()
    q = torch.tensor(QUANTILES, dtype=n.dtype, device=n.device)
    return torch.quantile(n, q, dim=0).T.cpu().numpy()
