"""TaskDataModule against its documented contract, without a Trainer: defaults and bounds, the
one-line errors (owner, key, bound, value), which seed stream and index each set comes from,
what each `setup` stage builds, and loaders that serve each fixed set whole, in order, without
touching torch's global RNG."""

from __future__ import annotations

import re

import pytest
import torch

import tasks
from tasks.seeds import stream_generator


def _same(a: tasks.Batch, b: tasks.Batch) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_defaults() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task)
    assert (dm.batch_size, dm.val_size, dm.test_size, dm.seed, dm.start_step) == (
        64, 512, 512, 0, 0)
    assert dm.train_size is None and dm.test_lengths == (6,) and dm.test_length == 6
    assert dm.train_start() == 0
    assert _same(dm.fixed_set("val"), task.batch(512, stream_generator(0, "val")))


def test_smallest_sizes_are_accepted() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, batch_size=1, val_size=1, test_size=1, seed=0,
                              start_step=0, train_size=1)  # fmt: skip
    assert dm.fixed_set("val")[0].shape[0] == 1 and dm.test_set(6)[0].shape[0] == 1
    assert dm.train_batch(0)[0].shape[0] == 1


@pytest.mark.parametrize("key,value,bound", [
    ("batch_size", 0, ">= 1"), ("val_size", 0, ">= 1"), ("test_size", 0, ">= 1"),
    ("seed", -1, ">= 0"), ("start_step", -1, ">= 0"), ("train_size", 63, ">= 64"),
    ("batch_size", 2.0, ">= 1"),
])  # fmt: skip
def test_each_argument_error_names_the_module_the_key_and_the_bound(key, value, bound) -> None:
    task = tasks.build("adding", length=6)
    message = f"TaskDataModule: {key} must be an integer {bound}, got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tasks.TaskDataModule(task, **{key: value})


def test_train_batch_number_must_be_a_count() -> None:
    dm = tasks.TaskDataModule(tasks.build("adding", length=6))
    message = "TaskDataModule: k must be an integer >= 0, got -1"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dm.train_batch(-1)


@pytest.mark.parametrize("kwargs,message", [
    ({"test_length": 8, "test_lengths": [8]},
     "give test_lengths or test_length (a single length), not both"),
    ({"test_lengths": "8"}, "test_lengths must be a list of lengths, got '8'"),
    ({"test_lengths": 8}, "test_lengths must be a list of lengths, got 8"),
    ({"test_lengths": []}, "test_lengths must name at least one length, got []"),
    ({"test_lengths": [8, 6, 8]}, "test_lengths has a repeated length: [8, 6, 8]"),
])  # fmt: skip
def test_test_length_errors(kwargs: dict, message: str) -> None:
    task = tasks.build("adding", length=6)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tasks.TaskDataModule(task, **kwargs)


def test_test_sets_come_from_the_test_stream_at_index_0_or_their_length() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, test_size=8, seed=3, test_lengths=[9, 6])
    assert dm.test_length == 9
    at_task_length = task.batch(8, stream_generator(3, "test", 0), length=6)
    at_nine = task.batch(8, stream_generator(3, "test", 9), length=9)
    assert _same(dm.test_set(6), at_task_length)
    assert _same(dm.test_set(9), at_nine)
    assert _same(dm.fixed_set("test"), at_nine)  # the first test length
    with pytest.raises(ValueError, match=r"^length 7 is not one of test_lengths \(9, 6\)$"):
        dm.test_set(7)


def test_fixed_sets_and_their_errors() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, batch_size=4, val_size=8, seed=1, train_size=12)
    assert _same(dm.fixed_set("val"), task.batch(8, stream_generator(1, "val")))
    assert _same(dm.fixed_set("train_set"), task.batch(12, stream_generator(1, "train_set")))
    message = "split must be val, test or train_set (with train_size), got 'train_set'"
    without = tasks.TaskDataModule(task, val_size=8)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        without.fixed_set("train_set")


def test_a_fixed_train_set_pass_e_is_shuffled_by_train_set_stream_index_e_plus_1() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, batch_size=4, seed=1, train_size=8)
    x, y, mask = dm.fixed_set("train_set")
    for epoch in (0, 1):
        order = torch.randperm(8, generator=stream_generator(1, "train_set", epoch + 1))
        for j in (0, 1):
            rows = order[4 * j : 4 * (j + 1)]
            assert _same(dm.train_batch(2 * epoch + j), (x[rows], y[rows], mask[rows]))


@pytest.mark.parametrize("stage,built", [
    ("fit", {"val", "train_set"}), ("validate", {"val"}), ("test", {"test@6", "test@9"}),
    (None, {"val", "train_set", "test@6", "test@9"}), ("predict", set()),
])  # fmt: skip
def test_setup_builds_what_its_stage_needs(stage: str | None, built: set[str]) -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, batch_size=4, val_size=8, test_size=8, train_size=8,
                              test_lengths=[6, 9])  # fmt: skip
    dm.setup(stage)
    assert set(dm._sets) == built


def test_loaders_serve_each_fixed_set_whole_in_order_without_the_global_rng() -> None:
    task = tasks.build("adding", length=6)
    dm = tasks.TaskDataModule(task, batch_size=3, val_size=8, test_size=7, test_lengths=[6, 9])
    state = torch.random.get_rng_state()
    val = list(dm.val_dataloader())
    assert [b[0].shape[0] for b in val] == [3, 3, 2]
    joined = tuple(torch.cat([b[i] for b in val]) for i in range(3))
    assert _same(joined, dm.fixed_set("val"))
    loaders = dm.test_dataloader()
    assert isinstance(loaders, list) and len(loaders) == 2
    for loader, length in zip(loaders, (6, 9), strict=True):
        assert loader.num_workers == 0
        batches = list(loader)
        assert _same(tuple(torch.cat([b[i] for b in batches]) for i in range(3)),
                     dm.test_set(length))  # fmt: skip
    train = iter(dm.train_dataloader())
    assert _same(next(train), dm.train_batch(0))
    assert torch.equal(torch.random.get_rng_state(), state)  # no base seed drawn from it
    single = tasks.TaskDataModule(task, batch_size=3, val_size=8, test_size=7)
    assert isinstance(single.test_dataloader(), torch.utils.data.DataLoader)
