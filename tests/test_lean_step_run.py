"""A real run with the lean step (issue 27) trains the weights that a plain torch loop written
here trains: the run's batches, forward, loss, backward, clipping to norm 1 and
`torch.optim.Adam` (torch's own, not the run's FlatAdam), compared bit for bit. The run stops at
step 7, resumes from its checkpoint (its optimizer state as saved) and ends at step 12."""

from __future__ import annotations

import torch

from gatebench.config.build import build_datamodule, build_task_and_model
from gatebench.train import train

STEPS = 12
RUN = ["task=adding", "task.length=6", "diagnostics.enabled=false", "test=false",
       "optimizer.lr=0.02", "trainer.val_check_interval=5", "trainer.log_every_n_steps=3"]


def _plain_loop(cfg) -> dict[str, torch.Tensor]:
    task, model = build_task_and_model(cfg)  # seeded as the run seeds it
    data = build_datamodule(cfg, task)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optimizer.lr)
    for k in range(STEPS):
        x, y, mask = data.train_batch(k)
        optimizer.zero_grad(set_to_none=True)
        task.loss(model(x), y, mask).backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
        optimizer.step()
    return model.state_dict()


def test_a_resumed_run_ends_with_the_weights_of_a_plain_torch_loop(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(*RUN, "trainer.max_steps=7", run_dir=run_dir))
    cfg = tiny_config(*RUN, f"trainer.max_steps={STEPS}", "ckpt_path=last", run_dir=run_dir)
    record = train(cfg)
    assert record["steps"] == STEPS and record["status"] == "finished"
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == STEPS
    expected = _plain_loop(cfg)
    assert saved["state_dict"].keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(saved["state_dict"][name], value), name
