"""SequenceModel's hooks against independently derived expectations: variant options reach the
layer, a bidirectional layer gets a readout over both directions, test loaders must match the
test lengths, a non-finite validation loss and a non-finite training loss (on CPU at every
step, not only at logging steps) stop the run, and the learning-rate schedule steps once per
optimizer step (the checkpointed lr equals the cosine formula at the last step)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import tasks
from gatebench.train import train
from gatebench.training.model import DivergedError, SequenceModel

ADAM = {"name": "adam", "lr": 0.01}


def test_variant_options_reach_the_layer() -> None:
    # forget_bias=3: the forget block of b_ih + b_hh is 3 (torch's gate order i, f, g, o)
    task = tasks.build("adding", length=5)
    model = SequenceModel(task, {"name": "lstm", "hidden_size": 4, "forget_bias": 3.0}, ADAM)
    b = (model.layer.bias_ih_l0 + model.layer.bias_hh_l0).detach()
    torch.testing.assert_close(b[4:8], torch.full((4,), 3.0))


def test_a_bidirectional_layer_is_read_out_over_both_directions() -> None:
    task = tasks.build("adding", length=5)
    variant = {"name": "gru", "hidden_size": 3, "bidirectional": True, "backend": "reference"}
    model = SequenceModel(task, variant, ADAM)
    assert model.readout.in_features == 2 * 3
    x, _, _ = task.batch(4, torch.Generator().manual_seed(0))
    assert model(x).shape == (4, task.output_size)


def test_test_loaders_must_serve_every_test_length() -> None:
    task = tasks.build("adding", length=5)
    model = SequenceModel(task, {"name": "rnn", "hidden_size": 3}, ADAM, test_lengths=[5, 8, 9])
    model.on_test_epoch_start()
    model.test_step(task.batch(4, torch.Generator().manual_seed(0)), 0, dataloader_idx=0)
    with pytest.raises(ValueError, match=r"served 1 of the model's test_lengths \[5, 8, 9\]"):
        model.on_test_epoch_end()
    no_length = r"test loader 3 has no length: .*test_lengths=\[5, 8, 9\]"
    with pytest.raises(ValueError, match=no_length):
        model.test_step(task.batch(4, torch.Generator().manual_seed(0)), 0, dataloader_idx=3)


def test_a_non_finite_validation_loss_is_a_divergence() -> None:
    task = tasks.build("adding", length=5)
    model = SequenceModel(task, {"name": "rnn", "hidden_size": 3, "backend": "reference"}, ADAM)
    with torch.no_grad():
        model.readout.bias.fill_(math.nan)
    model.on_validation_epoch_start()
    model.validation_step(task.batch(4, torch.Generator().manual_seed(0)), 0)
    with pytest.raises(DivergedError, match=r"^non-finite val/loss at step 0$"):
        model.on_validation_epoch_end()


def test_on_cpu_a_non_finite_training_loss_stops_at_once(tiny_config) -> None:
    # SGD with lr 1e30, unclipped: the loss is non-finite from the first steps. With logging
    # every 1000 steps a check at logging steps only would go on to the validation at step 10.
    record = train(tiny_config("task=adding", "task.length=6", "optimizer=sgd",
                               "optimizer.lr=1e30", "optimizer.momentum=0",
                               "trainer.gradient_clip_val=null",
                               "trainer.log_every_n_steps=1000"))  # fmt: skip
    assert record["status"] == "diverged"
    assert record["message"].startswith("non-finite train/loss") and record["steps"] < 10


def test_the_schedule_steps_once_per_optimizer_step(tiny_config) -> None:
    # cosine from 0.01 to 0.1 x 0.01 over 20 steps, no warmup: after 20 steps the lr is
    # 0.001 + (0.01 - 0.001) * (1 + cos(pi * 20 / 20)) / 2 = 0.001 (a schedule stepped every
    # other step would be at t = 10: 0.0055; no schedule: 0.01)
    record = train(tiny_config("task=adding", "task.length=6", "optimizer.lr=0.01",
                               "scheduler.name=cosine", "scheduler.min_lr_ratio=0.1",
                               "scheduler.total_steps=20", "trainer.max_steps=20"))  # fmt: skip
    assert record["status"] in ("finished", "solved") and record["steps"] == 20
    checkpoint = torch.load(Path(record["run_dir"]) / "checkpoints" / "last.ckpt",
                            weights_only=False)  # fmt: skip
    lr = checkpoint["optimizer_states"][0]["param_groups"][0]["lr"]
    assert lr == pytest.approx(0.001 + 0.009 * (1 + math.cos(math.pi)) / 2)



class _StepLosses(pl.Callback):
    """The training loss of every batch, as the training step returned it."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def test_logged_train_loss_is_the_loss_of_the_logging_step(tmp_path) -> None:
    # The model logs train/loss and train/grad_norm only at the steps Lightning writes
    # ((step + 1) % log_every_n_steps == 0). Lightning writes the latest value logged, so
    # logging at other steps would write an older step's loss: with every 5 of 10 steps, the
    # rows at steps 5 and 10 must hold the losses of batches 5 and 10.
    import pandas as pd
    from pytorch_lightning.loggers import CSVLogger

    task = tasks.build("adding", length=6)
    model = SequenceModel(task, {"name": "rnn", "hidden_size": 4}, ADAM)
    data = tasks.TaskDataModule(task, batch_size=8, val_size=8, test_size=8, seed=0)
    losses = _StepLosses()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=10, max_epochs=-1, log_every_n_steps=5,
        limit_val_batches=0, logger=CSVLogger(tmp_path, name="", version=""),
        callbacks=[losses], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    metrics = pd.read_csv(Path(trainer.logger.log_dir) / "metrics.csv")
    for name in ("train/loss", "train/grad_norm"):
        assert sorted(metrics.dropna(subset=[name])["step"].astype(int)) == [4, 9], name
    logged = metrics.dropna(subset=["train/loss"]).sort_values("step")["train/loss"]
    assert list(logged) == pytest.approx([losses.losses[4], losses.losses[9]], rel=1e-6)
    assert len(set(losses.losses)) == 10  # every step's loss differs, so a stale one shows
