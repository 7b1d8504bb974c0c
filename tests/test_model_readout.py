"""The readout sees what each direction read (issue 25): a bidirectional layer read out at the
last step gives nn.LSTM's final h_n (forward at T-1, reverse at step 0), so every input step
reaches the prediction through both directions; per-step readouts are in time order (a
bidirectional go_backwards layer's outputs flipped back), go_backwards alone at every step is
refused; results.json names the readout used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import tasks
from gatebench.config.build import build_task_and_model
from gatebench.config.validation import ConfigError
from gatebench.train import train
from gatebench.training.model import SequenceModel

H = 5


def _model(task_name: str, length: int, **options) -> SequenceModel:
    task = tasks.build(task_name, length=length)
    torch.manual_seed(0)
    variant = {"name": "lstm", "hidden_size": H, "backend": "reference", **options}
    return SequenceModel(task, variant, {"name": "adam", "lr": 0.01})


def _features_and_inputs(model: SequenceModel, n: int = 3):
    """(what the readout sees, the layer's input with requires_grad) for a task batch."""
    x, _, _ = model.task.batch(n, torch.Generator().manual_seed(1))
    emb = model.encoder(x).detach().requires_grad_()
    return model.read_out(model.layer(emb)[0]), emb


def _reaches(part: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """(T,) bool: whether input step s changes `part` (its gradient is non-zero)."""
    (grad,) = torch.autograd.grad(part.sum(), emb, retain_graph=True)
    return grad.abs().sum(dim=(0, 2)) > 0


def test_bidirectional_last_step_readout_is_torch_final_h_n() -> None:
    model = _model("adding", 7, bidirectional=True, num_layers=2)
    reference = nn.LSTM(H, H, num_layers=2, bidirectional=True, batch_first=True)
    reference.load_state_dict(model.layer.state_dict())
    x, _, _ = model.task.batch(4, torch.Generator().manual_seed(2))
    emb = model.encoder(x)
    _, (h_n, _) = reference(emb)
    expected = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # last layer: forward, reverse
    torch.testing.assert_close(model.read_out(model.layer(emb)[0]), expected)
    torch.testing.assert_close(model(x), model.readout(expected))
    assert model.readout_rule == "last_bidirectional"


@pytest.mark.parametrize(
    "options, rule",
    [
        ({"bidirectional": True}, "last_bidirectional"),
        ({"bidirectional": True, "go_backwards": True}, "last_bidirectional"),
        ({"go_backwards": True}, "last"),
        ({}, "last"),
    ],
)
def test_every_input_step_reaches_a_last_step_prediction_through_each_direction(
    options: dict, rule: str
) -> None:
    """The bug: read at output[:, -1], the reverse half had read only x[T-1] (gradient 0)."""
    model = _model("adding", 9, **options)
    assert model.readout_rule == rule
    features, emb = _features_and_inputs(model)
    for d in range(model.layer.num_directions):
        reaches = _reaches(features[:, d * H : (d + 1) * H], emb)
        assert reaches.all(), (d, reaches.tolist())
    x, _, _ = model.task.batch(3, torch.Generator().manual_seed(1))
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert (grad.abs().sum(dim=(0, 2)) > 0).all()  # the prediction itself, through the encoder


@pytest.mark.parametrize("go_backwards", [False, True])
def test_per_step_readout_of_a_bidirectional_layer_is_in_time_order(go_backwards: bool) -> None:
    """At step t the time-forward reader has read steps 0..t exactly and the time-backward one
    steps t..T-1 (go_backwards swaps which direction reads which way: Keras' processing order
    flipped back). Read in processing order, step t would see the wrong steps."""
    model = _model("copy", 2, bidirectional=True, go_backwards=go_backwards)
    assert model.readout_rule == ("every_time_order" if go_backwards else "every")
    features, emb = _features_and_inputs(model)
    steps = emb.shape[1]
    s = torch.arange(steps)
    forward_half, backward_half = (1, 0) if go_backwards else (0, 1)
    for t in range(steps):
        at_t = features[:, t]
        past = _reaches(at_t[:, forward_half * H : (forward_half + 1) * H], emb)
        future = _reaches(at_t[:, backward_half * H : (backward_half + 1) * H], emb)
        assert torch.equal(past, s <= t), (t, past.tolist())
        assert torch.equal(future, s >= t), (t, future.tolist())


def test_go_backwards_alone_read_out_at_every_step_is_refused(full_config) -> None:
    """In time order its output at a recall step has read only later steps: copy could only
    fail, and would look like a memory failure."""
    with pytest.raises(ValueError, match=r"^go_backwards=True cannot be read out at every step "
                       r"\(task 'copy'\)") as error:
        _model("copy", 4, go_backwards=True)
    assert "\n" not in str(error.value)
    cfg = full_config("variant=lstm", "task=copy", "+variant.go_backwards=true")
    with pytest.raises(ConfigError, match=r"^variant=lstm: go_backwards=True cannot be read out"):
        build_task_and_model(cfg)


def test_a_bidirectional_lstm_solves_adding_at_t_20() -> None:
    """Adding (Hochreiter & Schmidhuber 1997), T = 20: validation MSE <= 0.05 x the trivial
    baseline within 600 Adam steps (measured: 200-250 steps for seeds 0-3)."""
    task = tasks.build("adding", length=20)
    torch.manual_seed(0)
    model = SequenceModel(task, {"name": "lstm", "hidden_size": 16, "bidirectional": True,
                                 "backend": "cudnn"}, {})  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    train_stream = torch.Generator().manual_seed(1)
    xv, yv, mv = task.batch(512, torch.Generator().manual_seed(99))
    metrics: dict[str, float] = {}
    for step in range(1, 601):
        x, y, mask = task.batch(64, train_stream)
        loss = task.loss(model(x), y, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            with torch.no_grad():
                metrics = task.metrics(model(xv), yv, mv)
            if task.solved(metrics):
                break
    assert task.solved(metrics), (step, metrics["mse"] / task.baseline())


def test_results_json_names_the_readout(tiny_config) -> None:
    cfg = tiny_config("variant=gru", "task=adding", "task.length=5",
                      "+variant.bidirectional=true", "trainer.max_steps=2")  # fmt: skip
    train(cfg)
    record = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert record["readout"] == "last_bidirectional"
