"""SequenceModel wiring, checked against values derived independently of its code: the readout
reads the last step (readout `last`), and `train/grad_norm` is the whole model's global L2
gradient norm taken before clipping."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

import tasks
from gatebench.training.model import SequenceModel

VARIANT = {"name": "gru", "hidden_size": 8, "backend": "reference"}
ADAM = {"name": "adam", "lr": 0.01}


def _model(task_name: str, **params: object) -> tuple[tasks.Task, SequenceModel]:
    torch.manual_seed(0)
    task = tasks.build(task_name, **params)
    return task, SequenceModel(task, VARIANT, ADAM).double()


def test_last_readout_is_the_readout_of_the_final_hidden_state() -> None:
    """Readout `last`: prediction = readout(h_T), h_T the layer's returned final state."""
    task, model = _model("adding", length=7)
    x, _, _ = task.batch(5, torch.Generator().manual_seed(1))
    x = x.double()
    with torch.no_grad():
        _, h_n = model.layer(model.encoder(x))
        expected = model.readout(h_n[-1])
        torch.testing.assert_close(model(x), expected, atol=1e-12, rtol=0)


def test_last_readout_depends_on_the_last_input() -> None:
    """An answer carried only by the last input reaches the prediction (a step-0 readout could
    never see it); the first output is unchanged by it under readout `every` (causality)."""
    task, model = _model("adding", length=7)
    x, _, _ = task.batch(5, torch.Generator().manual_seed(2))
    x = x.double()
    changed = x.clone()
    changed[:, -1, 0] += 1.0
    with torch.no_grad():
        assert (model(changed) - model(x)).abs().min() > 1e-6
    task, model = _model("copy", length=3, n_copy=2, alphabet=4)
    tokens, _, _ = task.batch(4, torch.Generator().manual_seed(3))
    other = tokens.clone()
    other[:, -1] = (other[:, -1] + 1) % task.input_size
    with torch.no_grad():
        a, b = model(tokens), model(other)
    assert a.shape == (4, tokens.shape[1], task.output_size)
    torch.testing.assert_close(a[:, :-1], b[:, :-1], atol=0, rtol=0)
    assert (a[:, -1] - b[:, -1]).abs().max() > 1e-6


class _GradientsBeforeClipping(pl.Callback):
    """Records every parameter's gradient when Lightning calls on_before_optimizer_step, which
    it does before clipping (pytorch_lightning: hooks first, then `clip_gradients`)."""

    def __init__(self) -> None:
        self.grads: list[torch.Tensor] = []
        self.layer_grads: list[torch.Tensor] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.grads = [p.grad.detach().clone() for p in pl_module.parameters()]
        self.layer_grads = [p.grad.detach().clone() for p in pl_module.layer.parameters()]


def test_grad_norm_is_the_whole_models_global_norm_before_clipping() -> None:
    task, model = _model("adding", length=6)
    model = model.float()
    data = tasks.TaskDataModule(task, batch_size=16, val_size=16, test_size=16, seed=0)
    recorder = _GradientsBeforeClipping()
    clip = 1e-3
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=1, max_epochs=-1, gradient_clip_val=clip,
        log_every_n_steps=1, limit_val_batches=0, logger=False, callbacks=[recorder],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    logged = float(trainer.callback_metrics["train/grad_norm"])
    # sqrt(sum of every squared gradient entry of the model), as one flat vector
    whole = float(torch.cat([g.flatten() for g in recorder.grads]).double().pow(2).sum().sqrt())
    layer = float(torch.cat([g.flatten() for g in recorder.layer_grads]).double().pow(2).sum()
                  .sqrt())
    assert whole > 10 * clip, "the gradient must be large enough for clipping to change it"
    assert abs(whole - layer) > 1e-3 * whole, "encoder/readout gradients must count"
    assert abs(logged - whole) <= 1e-5 * whole
