"""Lightning DataModule serving a task's training stream and fixed validation and test sets."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from tasks.base import Batch, Task, check_int
from tasks.seeds import stream_generator


def _keep(batch: Any) -> Any:
    """Collate that leaves an already-built batch alone (the default turns tuples into lists)."""
    return batch


class BatchStream(IterableDataset):
    """Endless whole batches `make_batch(k)` for k = start, start + 1, ..."""

    def __init__(self, make_batch: Callable[[int], Batch], start: int) -> None:
        self.make_batch = make_batch
        self.start = start

    def __iter__(self) -> Iterator[Batch]:
        k = self.start
        while True:
            yield self.make_batch(k)
            k += 1


class TaskDataModule(pl.LightningDataModule):
    """Training, validation and test batches `(x, y, mask)` for one task.

    Training batch number k is a pure function of (`seed`, k): drawn fresh from a generator
    seeded for k (`tasks.seeds`, stream "train") by `task.training_batch` (a task with a length
    curriculum draws the batch's length from it first), or, with `train_size`, slice k of a
    fixed set of `train_size` sequences reshuffled every pass (pass e uses its own seeded
    permutation; the last partial batch of a pass is dropped). The train loader starts at batch
    `start_step`, or, once attached to a trainer, at `trainer.global_step *
    trainer.accumulate_grad_batches` (Lightning restores `global_step` before it builds the
    loaders), so a resumed run sees the batches a straight run would. It never ends: stop
    training with `max_steps` and validate every N steps (`val_check_interval=N`,
    `check_val_every_n_epoch=None`).

    Validation (`val_size` sequences, at the task's length) and test sets are fixed tensors
    drawn from their own seed streams, which no training seed can equal. There is one test set
    (`test_size` sequences) per length in `test_lengths` (default: the task's length alone;
    `test_length=L` is the same as `test_lengths=[L]`): the set at the task's length is item 0
    of the test stream, the set at another length L is item L, so it is the same set whatever
    length a run trained at. With several lengths `test_dataloader` returns one loader per
    length, in the order of `test_lengths`. Loaders use `batch_size=None` and no workers: data
    is generated in-process.
    """

    def __init__(
        self,
        task: Task,
        batch_size: int = 64,
        val_size: int = 512,
        test_size: int = 512,
        seed: int = 0,
        train_size: int | None = None,
        test_length: int | None = None,
        start_step: int = 0,
        test_lengths: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(task, Task):
            raise ValueError(f"task must be a tasks.Task (see tasks.build), got {task!r}")
        self.task = task
        self.batch_size = check_int("TaskDataModule", "batch_size", batch_size, low=1)
        self.val_size = check_int("TaskDataModule", "val_size", val_size, low=1)
        self.test_size = check_int("TaskDataModule", "test_size", test_size, low=1)
        self.seed = check_int("TaskDataModule", "seed", seed, low=0)
        self.start_step = check_int("TaskDataModule", "start_step", start_step, low=0)
        if train_size is not None:
            train_size = check_int("TaskDataModule", "train_size", train_size, low=self.batch_size)
            low, high = task.training_lengths()
            if low != high:
                raise ValueError(
                    f"train_size must be null for {task.name} with a length curriculum (training "
                    f"lengths {low}..{high}: a fixed set has one length), got {train_size}"
                )
        self.train_size = train_size
        if test_length is not None and test_lengths is not None:
            raise ValueError("give test_lengths or test_length (a single length), not both")
        if test_lengths is None:
            test_lengths = [task.length if test_length is None else test_length]
        if isinstance(test_lengths, str | bytes) or not isinstance(test_lengths, Sequence):
            raise ValueError(f"test_lengths must be a list of lengths, got {test_lengths!r}")
        if not test_lengths:
            raise ValueError("test_lengths must name at least one length, got []")
        checked = [task._check_length(length) for length in test_lengths]
        if len(set(checked)) != len(checked):
            raise ValueError(f"test_lengths has a repeated length: {checked}")
        self.test_lengths: tuple[int, ...] = tuple(checked)
        self._sets: dict[str, Batch] = {}

    # -- the data --------------------------------------------------------------------------------

    @property
    def test_length(self) -> int:
        """The first test length (the only one unless `test_lengths` names several)."""
        return self.test_lengths[0]

    def test_set(self, length: int) -> Batch:
        """The fixed test set `(x, y, mask)` at `length` (one of `test_lengths`)."""
        if length not in self.test_lengths:
            raise ValueError(f"length {length!r} is not one of test_lengths {self.test_lengths}")
        key = f"test@{length}"
        if key not in self._sets:
            index = 0 if length == self.task.length else length
            generator = stream_generator(self.seed, "test", index)
            self._sets[key] = self.task.batch(self.test_size, generator, length=length)
        return self._sets[key]

    def fixed_set(self, split: str) -> Batch:
        """The whole fixed set `(x, y, mask)` of `split`: "val", "test" (at the first test
        length) or "train_set"."""
        if split == "test":
            return self.test_set(self.test_length)
        if split not in self._sets:
            if split == "val":
                size, length = self.val_size, self.task.length
            elif split == "train_set" and self.train_size is not None:
                size, length = self.train_size, self.task.length
            else:
                raise ValueError(
                    f"split must be val, test or train_set (with train_size), got {split!r}"
                )
            generator = stream_generator(self.seed, split)
            self._sets[split] = self.task.batch(size, generator, length=length)
        return self._sets[split]

    def train_batch(self, k: int) -> Batch:
        """Training batch number `k` (0-based): a pure function of (seed, k)."""
        k = check_int("TaskDataModule", "k", k, low=0)
        if self.train_size is None:
            generator = stream_generator(self.seed, "train", k)
            return self.task.training_batch(self.batch_size, generator)
        per_pass = self.train_size // self.batch_size
        epoch, j = divmod(k, per_pass)
        # index 0 of the train_set stream made the set itself; pass e shuffles with index e + 1.
        order = torch.randperm(
            self.train_size, generator=stream_generator(self.seed, "train_set", epoch + 1)
        )
        rows = order[j * self.batch_size : (j + 1) * self.batch_size]
        x, y, mask = self.fixed_set("train_set")
        return x[rows], y[rows], mask[rows]

    def train_start(self) -> int:
        """The number of the first training batch the train loader yields."""
        trainer = self.trainer
        if trainer is None:
            return self.start_step
        return int(trainer.global_step) * int(trainer.accumulate_grad_batches)

    # -- Lightning hooks -------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate"):
            self.fixed_set("val")
        if stage in (None, "test"):
            for length in self.test_lengths:
                self.test_set(length)
        if self.train_size is not None and stage in (None, "fit"):
            self.fixed_set("train_set")

    def train_dataloader(self) -> DataLoader:
        stream = BatchStream(self.train_batch, self.train_start())
        return _loader(stream)

    def val_dataloader(self) -> DataLoader:
        return self._fixed_loader("val")

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self._fixed_loader(self.test_set(length)) for length in self.test_lengths]
        return loaders[0] if len(loaders) == 1 else loaders

    def _fixed_loader(self, split: str | Batch) -> DataLoader:
        x, y, mask = self.fixed_set(split) if isinstance(split, str) else split
        step = self.batch_size
        chunks = [
            (x[i : i + step], y[i : i + step], mask[i : i + step]) for i in range(0, len(x), step)
        ]
        return _loader(chunks)


def _loader(dataset: Any) -> DataLoader:
    """A DataLoader of ready-made batches. It gets its own generator: every new iterator of a
    DataLoader draws a base seed, and without one that draw comes from torch's global RNG, so
    building a loader (each validation, a resume) would shift the dropout masks of training."""
    return DataLoader(
        dataset, batch_size=None, num_workers=0, collate_fn=_keep, generator=torch.Generator()
    )
