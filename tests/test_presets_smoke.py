"""The ecosystem's conventions: `experiment=smoke` runs any variant on any task end to end with
tiny sizes, and a user's own experiment outside the repository joins the config tree through
`hydra.searchpath` (the template in examples/user_conf/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, compose_config

from gatebench.train import train


@pytest.mark.parametrize(("variant", "task"), [("gru", "copy"), ("rnn", "adding")])
def test_smoke_preset_trains_end_to_end(tmp_path: Path, variant: str, task: str) -> None:
    cfg = compose_config(["experiment=smoke", f"variant={variant}", f"task={task}",
                          "logger=none"], tmp_path / "run")  # fmt: skip
    assert (cfg.trainer.max_steps, cfg.task.length, cfg.variant.hidden_size) == (40, 10, 16)
    train(cfg)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"] in ("finished", "solved") and record["steps"] <= 40
    assert (record["variant"], record["task"]["name"]) == (variant, task)


def test_a_user_experiment_outside_the_repo_joins_the_config_tree(tmp_path: Path) -> None:
    template = REPO / "examples" / "user_conf"
    cfg = compose_config([f"hydra.searchpath=[file://{template}]", "experiment=my_study"],
                         tmp_path / "run")  # fmt: skip
    assert cfg.task.name == "adding" and cfg.task.length == 100
    assert (cfg.variant.hidden_size, cfg.trainer.max_steps) == (64, 3000)
