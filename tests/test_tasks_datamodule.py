"""TaskDataModule: seeded, disjoint train/val/test data, and exact stop-and-resume in Lightning."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

import tasks
from tasks.seeds import STREAMS, stream_seed


def rows(*tensors: torch.Tensor) -> set[bytes]:
    """Each sequence (row) of the given inputs as bytes."""
    return {row.numpy().tobytes() for t in tensors for row in t.reshape(len(t), -1)}


def same(a: tasks.Batch, b: tasks.Batch) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_same_seed_same_batches_other_seed_other_batches() -> None:
    task = tasks.build("copy", length=20)
    a, b = (tasks.TaskDataModule(task, batch_size=8, seed=3) for _ in range(2))
    other = tasks.TaskDataModule(task, batch_size=8, seed=4)
    for k in (0, 1, 57):
        assert same(a.train_batch(k), b.train_batch(k))
        assert not same(a.train_batch(k), other.train_batch(k))
    assert not same(a.train_batch(0), a.train_batch(1))
    for split in ("val", "test"):
        assert same(a.fixed_set(split), b.fixed_set(split))
        assert not same(a.fixed_set(split), other.fixed_set(split))


@pytest.mark.parametrize("name,params", [("adding", {"length": 10}), ("copy", {"length": 10})])
def test_train_val_test_share_no_sequence(name: str, params: dict) -> None:
    task = tasks.build(name, **params)
    dm = tasks.TaskDataModule(task, batch_size=32, val_size=256, test_size=256, seed=0)
    fixed = tasks.TaskDataModule(task, batch_size=32, seed=0, train_size=256)
    stream = rows(*(dm.train_batch(k)[0] for k in range(50)))
    fixed_train = rows(fixed.fixed_set("train_set")[0])
    val, test = rows(dm.fixed_set("val")[0]), rows(dm.fixed_set("test")[0])
    assert len(val) == len(test) == len(fixed_train) == 256 and len(stream) == 50 * 32
    assert not (stream | fixed_train) & val
    assert not (stream | fixed_train) & test
    assert not val & test


def test_seed_streams_occupy_disjoint_ranges() -> None:
    """torch keeps only 32 bits of a seed; each stream owns a quarter of that space."""
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5 + 2**32)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    for stream, tag in STREAMS.items():
        seeds = {stream_seed(s, stream, k) for s in range(20) for k in (0, 1, 10**6, 2**31)}
        assert all(seed >> 30 == tag and seed < 2**32 for seed in seeds)
    run = [stream_seed(0, "train", k) for k in range(10_000)]
    assert len(set(run)) == len(run)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        stream_seed(-1, "train")


def test_train_loader_yields_batch_k_from_start_step() -> None:
    task = tasks.build("temporal_order", length=12)
    dm = tasks.TaskDataModule(task, batch_size=4, start_step=7)
    loader = iter(dm.train_dataloader())
    for k in range(7, 10):
        batch = next(loader)
        assert isinstance(batch, tuple) and same(batch, dm.train_batch(k))


def test_fixed_train_set_is_reshuffled_each_pass() -> None:
    task = tasks.build("adding", length=5)
    dm = tasks.TaskDataModule(task, batch_size=4, train_size=10, seed=1)
    x_set = dm.fixed_set("train_set")[0]
    set_rows = [r.numpy().tobytes() for r in x_set.reshape(10, -1)]
    passes = []
    for epoch in range(2):  # 10 // 4 = 2 batches per pass; the last 2 sequences sit out
        seen = [
            r.numpy().tobytes()
            for k in (2 * epoch, 2 * epoch + 1)
            for r in dm.train_batch(k)[0].reshape(4, -1)
        ]
        assert len(set(seen)) == 8 and set(seen) <= set(set_rows)
        passes.append(seen)
    assert passes[0] != passes[1]
    again = tasks.TaskDataModule(task, batch_size=4, train_size=10, seed=1)
    assert same(again.train_batch(3), dm.train_batch(3))


def test_validation_and_test_loaders_cover_fixed_sets_at_their_lengths() -> None:
    task = tasks.build("copy", length=10)
    dm = tasks.TaskDataModule(task, batch_size=16, val_size=40, test_size=20, test_length=30)
    dm.setup()
    val = list(dm.val_dataloader())
    assert [len(b[0]) for b in val] == [16, 16, 8] and val[0][0].shape[1] == 30
    test = list(dm.test_dataloader())
    assert [len(b[0]) for b in test] == [16, 4] and test[0][0].shape[1] == 50
    assert torch.equal(torch.cat([b[0] for b in val]), dm.fixed_set("val")[0])
    assert dm.task is task and dm.batch_size == 16


def test_datamodule_arguments_are_checked() -> None:
    task = tasks.build("copy", length=10)
    with pytest.raises(ValueError, match="train_size must be an integer >= 64"):
        tasks.TaskDataModule(task, train_size=10)
    with pytest.raises(ValueError, match="task must be a tasks.Task"):
        tasks.TaskDataModule("copy")
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        tasks.TaskDataModule(task, test_length=0)


class Recorder(pl.LightningModule):
    """A tiny model that remembers every training batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.readout = torch.nn.Linear(2, 1)
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch: tasks.Batch, batch_idx: int) -> torch.Tensor:
        x, y, mask = batch
        self.seen.append(x.clone())
        return torch.nn.functional.mse_loss(self.readout(x[:, -1]), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(steps: int, ckpt_path: str | None = None, save_to: str | None = None) -> Recorder:
    task = tasks.build("adding", length=6)
    model = Recorder()
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(
        model, datamodule=tasks.TaskDataModule(task, batch_size=4, seed=2), ckpt_path=ckpt_path
    )
    if save_to is not None:
        trainer.save_checkpoint(save_to)
    return model


@pytest.mark.filterwarnings("ignore")
def test_resumed_run_sees_the_batches_of_a_straight_run(tmp_path) -> None:
    straight = fit(6).seen
    ckpt = str(tmp_path / "half.ckpt")
    first = fit(3, save_to=ckpt).seen
    second = fit(6, ckpt_path=ckpt).seen
    assert len(straight) == 6 and len(first) == 3 and len(second) == 3
    assert all(torch.equal(a, b) for a, b in zip(straight, first + second, strict=True))
