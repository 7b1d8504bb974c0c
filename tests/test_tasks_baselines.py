"""Each task's analytic baseline() against a Monte Carlo measurement of the trivial strategy.

The trivial strategy is fitted on one large generated sample (the mean target, the class
frequencies, or the class frequencies at each step) and scored with the task's own `loss` on
fresh batches; the baseline must lie within three standard errors of that score. Fitted class
frequencies carry a bias of about (K-1)/2N per scored step (K classes, N fit sequences); with
P scored steps per sequence it stays under half a standard error when the fit sample is at
least (K-1)P times the evaluation sample, which `fit_factor` ensures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import pytest
import torch

import tasks

N_EVAL_CHUNKS = 20


def fit_trivial(
    task: tasks.Task, n_fit: int, generator: torch.Generator, chunk: int = 10_000
) -> Callable[[int], torch.Tensor]:
    """Fit the best input-independent predictor on `n_fit` sequences; return n -> predictions."""
    if task.target_kind == "real":
        total = torch.zeros(task.output_size, dtype=torch.float64)
        for start in range(0, n_fit, chunk):
            _, y, _ = task.batch(min(chunk, n_fit - start), generator)
            total += y.double().sum(dim=0)
        mean = (total / n_fit).float()
        return lambda n: mean.expand(n, -1)
    counts = None
    for start in range(0, n_fit, chunk):
        _, y, _ = task.batch(min(chunk, n_fit - start), generator)
        if task.readout == "last":
            c = torch.bincount(y, minlength=task.output_size)
        else:  # class frequencies at each step
            steps = y.shape[1]
            flat = torch.arange(steps) * task.output_size + y
            c = torch.bincount(flat.flatten(), minlength=steps * task.output_size)
            c = c.view(steps, task.output_size)
        counts = c if counts is None else counts + c
    log_freq = (counts.double() / n_fit).clamp_min(1e-30).log().float()
    return lambda n: log_freq.expand(n, *log_freq.shape)


def measured_loss(
    task: tasks.Task,
    predict: Callable[[torch.Tensor], torch.Tensor],
    n_eval: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """Mean and standard error of `task.loss` of `predict(x)` over fresh chunks of `n_eval`."""
    losses = []
    per_chunk = n_eval // N_EVAL_CHUNKS
    for _ in range(N_EVAL_CHUNKS):
        x, y, mask = task.batch(per_chunk, generator)
        losses.append(task.loss(predict(x), y, mask).item())
    return statistics.fmean(losses), statistics.stdev(losses) / math.sqrt(len(losses))


def fit_factor(task: tasks.Task) -> int:
    """How many times larger than the evaluation sample the fit sample must be (see top)."""
    if task.target_kind == "real":
        return 1  # fitting bias Var/N_fit: negligible
    scored_steps = 1 if task.readout == "last" else task.params["n_copy"]
    return max(10, (task.output_size - 1) * scored_steps)


CASES = [
    ("adding", {"length": 20}, 100_000),
    ("adding", {"length": 11, "form": "original"}, 100_000),
    ("adding", {"length": 40, "form": "original"}, 100_000),
    ("multiplication", {"length": 11}, 100_000),
    ("multiplication", {"length": 40}, 100_000),
    ("multiplication", {"length": 20, "form": "modern"}, 100_000),
    ("temporal_order", {"length": 10, "relevant": 2}, 100_000),
    ("temporal_order", {"length": 40, "relevant": 3}, 50_000),
    ("copy", {"length": 5}, 4_000),
    ("copy", {"length": 100}, 1_000),
    ("copy", {"length": 30, "loss_on": "recall"}, 2_000),
    ("copy", {"length": 30, "n_copy": 6, "distinct": True}, 2_000),
    ("selective_copy", {"length": 40}, 1_000),
]


@pytest.mark.parametrize("name,params,n_eval", CASES, ids=lambda v: str(v))
def test_baseline_matches_monte_carlo(name: str, params: dict, n_eval: int) -> None:
    torch.set_num_threads(1)
    task = tasks.build(name, **params)
    generator = torch.Generator().manual_seed(1234)
    trivial = fit_trivial(task, fit_factor(task) * n_eval, generator)
    mean, se = measured_loss(task, lambda x: trivial(x.shape[0]), n_eval, generator)
    assert se > 0
    assert abs(mean - task.baseline()) <= 3 * se, (task, mean, se, task.baseline())


def test_headline_values() -> None:
    """The values the issue names come out of the derived formulas."""
    assert tasks.build("adding").baseline() == pytest.approx(1 / 6)
    for length in (100, 200, 1000):
        copy = tasks.build("copy", length=length)
        assert copy.baseline() == pytest.approx(10 * math.log(8) / (length + 20))
    assert tasks.build("copy", loss_on="recall").baseline() == pytest.approx(math.log(8))
    assert tasks.build("multiplication", form="modern").baseline() == pytest.approx(7 / 144)


def memoryless_copy(task: tasks.Task) -> Callable[[torch.Tensor], torch.Tensor]:
    """Arjovsky's memoryless strategy: uniform over the data symbols for the n_copy steps after
    the delimiter, blank elsewhere; it sees only where the delimiter was, never the data."""
    k, a = task.params["n_copy"], task.params["alphabet"]

    def predict(x: torch.Tensor) -> torch.Tensor:
        delimiter_at = (x == task.delimiter).long().argmax(dim=1, keepdim=True)
        since = torch.arange(x.shape[1]) - delimiter_at
        recall = (since >= 1) & (since <= k)
        logits = torch.full((*x.shape, task.output_size), -1e4)
        logits[..., task.blank] = 0.0
        uniform = torch.zeros(task.output_size)
        uniform[task.blank] = -1e4
        logits[recall] = uniform
        assert logits.log_softmax(-1)[recall][:, :a].exp().allclose(torch.tensor(1 / a))
        return logits

    return predict


@pytest.mark.parametrize("loss_on", ["all", "recall"])
def test_copy_random_delay_baseline_is_memoryless_loss(loss_on: str) -> None:
    task = tasks.build("copy", length=40, random_delay=True, min_delay=5, loss_on=loss_on)
    generator = torch.Generator().manual_seed(7)
    mean, se = measured_loss(task, memoryless_copy(task), 20_000, generator)
    # The memoryless loss is the same for every sequence (se ~ 0): compare to float precision.
    assert mean == pytest.approx(task.baseline(), rel=1e-5)
    # ... and with a fixed delay it equals the fitted input-independent strategy checked above.
    fixed = tasks.build("copy", length=40, loss_on=loss_on)
    assert measured_loss(fixed, memoryless_copy(fixed), 2_000, generator)[0] == pytest.approx(
        fixed.baseline(), rel=1e-5
    )
