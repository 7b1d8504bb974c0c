"""Every run ends with a checkpoint of its final weights (issue 24): a run shorter than its
validation interval, or ending between validations, has `last.ckpt` at its last step, a resume
from it goes on exactly, and `gatebench.diagnose` measures those final weights."""

from __future__ import annotations

from pathlib import Path

import torch

from gatebench.diagnose import diagnose_run
from gatebench.train import train

ADDING = ["task=adding", "task.length=6", "trainer.val_check_interval=10"]


def _state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def test_last_checkpoint_holds_the_final_step_and_diagnose_uses_it(tiny_config, tmp_path) -> None:
    short = train(tiny_config(*ADDING, "trainer.max_steps=5", run_dir=tmp_path / "short"))
    assert short["steps"] == 5 and _state(tmp_path / "short")["global_step"] == 5

    between = tmp_path / "between"  # ends at 15, between the validations at 10 and 20
    record = train(tiny_config(*ADDING, "trainer.max_steps=15", run_dir=between))
    assert record["steps"] == 15 and _state(between)["global_step"] == 15
    summary = diagnose_run(between, batch_size=8)
    assert "note" not in summary and summary["snapshots"][-1]["step"] == 15

    extended = train(tiny_config(*ADDING, "trainer.max_steps=20", "ckpt_path=last",
                                 run_dir=between))  # fmt: skip
    straight = train(tiny_config(*ADDING, "trainer.max_steps=20", run_dir=tmp_path / "straight"))
    a, b = _state(between)["state_dict"], _state(tmp_path / "straight")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # the step-15 checkpoint resumes exactly
    assert extended["final"] == straight["final"]
