"""SequenceModel's hooks against independently derived expectations: variant options reach the
layer, a bidirectional layer gets a readout over both directions, test loaders must match the
test lengths, a non-finite validation loss and a non-finite training loss (on CPU at every
step, not only at logging steps) stop the run, and the learning-rate schedule steps once per
optimizer step (the checkpointed lr equals the cosine formula at the last step)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import tasks
from gatebench.model import DivergedError, SequenceModel
from gatebench.train import train

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
