"""Task parameters at their bounds (smallest valid value accepted, one below refused with a
one-line error naming the task and the key, numpy integers stored as int), batches that depend
on the given generator only, and the seed streams' documented layout (tasks/seeds.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tasks
from tasks.seeds import STREAMS, stream_generator, stream_seed

SMALL = {  # every task at a tiny valid size
    "adding": {"length": 20}, "multiplication": {"length": 20}, "copy": {"length": 3},
    "selective_copy": {"length": 12, "n_copy": 3, "alphabet": 4},
    "temporal_order": {"length": 100},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SMALL))
def test_batch_depends_on_the_generator_only(name: str) -> None:
    task = tasks.build(name, **SMALL[name])
    drawn = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        drawn.append(task.batch(6, torch.Generator().manual_seed(11)))
    for a, b in zip(*drawn, strict=True):
        assert torch.equal(a, b)
    other = task.batch(6, torch.Generator().manual_seed(12))
    assert not torch.equal(drawn[0][0], other[0])


@pytest.mark.parametrize("name,key,smallest", [
    ("copy", "n_copy", 1), ("copy", "alphabet", 1), ("selective_copy", "n_copy", 1),
    ("selective_copy", "alphabet", 1),
])  # fmt: skip
def test_integer_parameters_at_their_lower_bound(name: str, key: str, smallest: int) -> None:
    params = {**SMALL[name], key: np.int64(smallest)}
    task = tasks.build(name, **params)
    assert task.params[key] == smallest and type(task.params[key]) is int
    x, y, mask = task.batch(2, torch.Generator().manual_seed(0))
    assert x.shape[0] == 2
    with pytest.raises(ValueError, match=rf"^{name}: {key} must be an integer >= {smallest}, "):
        tasks.build(name, **{**SMALL[name], key: smallest - 1})


def test_copy_min_delay_is_checked_and_normalised() -> None:
    task = tasks.build("copy", length=5, random_delay=True, min_delay=np.int64(1))
    assert type(task.params["min_delay"]) is int and task.min_length() == 1
    assert tasks.build("copy", length=5, random_delay=True, min_delay=3).min_length() == 3
    assert tasks.build("copy", length=5, min_delay=3).min_length() == 1  # fixed delay: unused
    with pytest.raises(ValueError, match=r"^copy: min_delay must be an integer >= 1"):
        tasks.build("copy", length=5, random_delay=True, min_delay=0)


def test_token_task_sizes() -> None:
    """Copy/selective copy: ids 0..A-1 data, A blank, A+1 delimiter/marker; outputs A+1."""
    for name in ("copy", "selective_copy"):
        task = tasks.build(name, **{**SMALL[name], "alphabet": 5})
        assert (task.input_size, task.output_size) == (7, 6)


def test_selective_copy_length_at_least_n_copy() -> None:
    task = tasks.build("selective_copy", length=3, n_copy=3, alphabet=4)
    x, _, _ = task.batch(2, torch.Generator().manual_seed(0))
    assert x.shape == (2, 3 + 3)
    for bad in (2, 1):
        with pytest.raises(ValueError, match=r"^selective_copy: length must be >= n_copy=3"):
            tasks.build("selective_copy", length=bad, n_copy=3, alphabet=4)
    with pytest.raises(ValueError, match=r"^selective_copy: length must be an integer >= 3"):
        tasks.build("selective_copy", length=0, n_copy=3, alphabet=4)


def test_stream_seeds_follow_the_documented_layout() -> None:
    for stream, tag in STREAMS.items():
        start = int(np.random.SeedSequence(7, spawn_key=(tag,)).generate_state(1)[0])
        for index in (0, 1, 5):
            assert stream_seed(7, stream, index) == (tag << 30) | ((start + index) % (1 << 30))
        assert stream_seed(7, stream) == stream_seed(7, stream, 0)
        assert stream_seed(np.int64(7), stream) == stream_seed(7, stream)
        expected = torch.Generator().manual_seed(stream_seed(7, stream, 0)).initial_seed()
        assert stream_generator(7, stream).initial_seed() == expected
    for bad in (True, -1, 1.5):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            stream_seed(bad, "train")
    with pytest.raises(ValueError, match="stream must be one of train, train_set, val, test"):
        stream_seed(0, "bogus")
