"""A model that cannot learn fails here: one short real training run per readout kind must reach
its task's solved criterion (wrong model, loss or optimiser wiring never does).

Settings are easy on purpose (adding at T = 5: readout `last`; copy with 3 symbols of a 4-letter
alphabet after a delay of 3: readout `every`); each measured solved within a few hundred steps
(about 10-25 s on one core) against a budget of 1500.
"""

from __future__ import annotations

import pytest

import tasks
from gatebench.train import train

COMMON = [
    "variant=gru", "optimizer.lr=0.01", "data.batch_size=64", "data.val_size=256",
    "trainer.max_steps=1500", "trainer.val_check_interval=50", "threads=1", "logger=none",
    "test=false",
]  # fmt: skip
CASES = {
    "last": ["task=adding", "task.length=5", "variant.hidden_size=16"],
    "every": ["task=copy", "task.length=3", "task.n_copy=3", "task.alphabet=4",
              "variant.hidden_size=32"],
}  # fmt: skip


@pytest.mark.parametrize("readout", sorted(CASES))
def test_short_real_run_reaches_the_solved_criterion(tiny_config, readout: str) -> None:
    cfg = tiny_config(*COMMON, *CASES[readout])
    task = tasks.build(cfg.task.name, **{k: v for k, v in cfg.task.items() if k != "name"})
    assert task.readout == readout
    record = train(cfg)
    assert record["status"] == "solved", record["final"]
    assert record["steps_to_solve"] is not None and record["steps_to_solve"] < 1500
    final = {k.removeprefix("val/"): v for k, v in record["final"].items()}
    assert task.solved(final)
    # the criterion itself, spelled out: mse <= 0.05 x Var(U1 + U2) = 0.05 / 6; recall >= 0.99
    if readout == "last":
        assert final["mse"] <= 0.05 / 6
    else:
        assert final["recall_acc"] >= 0.99
