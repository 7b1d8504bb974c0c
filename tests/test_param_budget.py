"""model.param_budget: the hidden size whose whole-model count is the closest achievable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import tasks
import variants
from gatebench.config.build import build_task_and_model
from gatebench.config.param_budget import closest_hidden_size
from gatebench.config.validation import ConfigError
from gatebench.train import train
from gatebench.training.model import SequenceModel


def _count(task, name: str, hidden: int) -> int:
    """Whole model (encoder + layer + readout), counted by `variants.count_parameters`."""
    model = SequenceModel(task, {"name": name, "hidden_size": hidden}, {})
    return variants.count_parameters(model)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "cifg"])
@pytest.mark.parametrize("budget", [5003])
def test_budget_picks_the_closest_achievable_count(full_config, name: str, budget: int) -> None:
    cfg = full_config(f"variant={name}", "task=adding", f"model.param_budget={budget}")
    task, model = build_task_and_model(cfg)
    hidden = model.hidden_size
    assert model.param_budget == budget
    chosen = variants.count_parameters(model)
    assert chosen == _count(task, name, hidden)
    # counts grow with H, so the neighbours bound every other size
    for other in (hidden - 1, hidden + 1):
        if other >= 1:
            assert abs(chosen - budget) <= abs(_count(task, name, other) - budget)


def test_hidden_sizes_follow_each_cells_size() -> None:
    """Adding (2 inputs, 1 output), encoder width = H: rnn 2H^2 + 6H + 1 parameters (encoder
    2H + H, layer H^2 + H^2 + 2H, readout H + 1), lstm 8H^2 + 12H + 1 (4 gate blocks)."""
    task = tasks.build("adding", length=5)
    assert _count(task, "rnn", 10) == 2 * 100 + 6 * 10 + 1
    assert _count(task, "lstm", 10) == 8 * 100 + 12 * 10 + 1
    # budget 3000: rnn 2H^2 + 6H + 1 = 3000 at H = 37.3 (H = 37: 2961, 38: 3117);
    # lstm 8H^2 + 12H + 1 = 3000 at H = 18.6 (H = 18: 2809, 19: 3117)
    assert closest_hidden_size(lambda h: _count(task, "rnn", h), 3000) == (37, 2961)
    assert closest_hidden_size(lambda h: _count(task, "lstm", h), 3000) == (19, 3117)


def test_record_keeps_budget_hidden_size_and_count(tiny_config) -> None:
    cfg = tiny_config("variant=gru", "task=adding", "task.length=5", "model.param_budget=700")
    train(cfg)
    record = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    # gru: encoder 3H, layer 3(2H^2 + 2H), readout H + 1 = 6H^2 + 10H + 1; H = 10: 701
    assert record["param_budget"] == 700 and record["hidden_size"] == 10
    assert record["params"] == 701
    assert record["variant_options"]["hidden_size"] == 10


def test_budget_smaller_than_the_smallest_model_is_a_config_error(full_config) -> None:
    cfg = full_config("variant=lstm", "task=adding", "model.param_budget=5")
    with pytest.raises(ConfigError, match=r"^model.param_budget=5 is smaller than the smallest"):
        build_task_and_model(cfg)


def test_bad_budget_value_names_the_key(tiny_config) -> None:
    cfg = tiny_config("model.param_budget=0")
    with pytest.raises(ConfigError, match=r"^model.param_budget=0 is invalid: expected an int"):
        train(cfg)
    assert OmegaConf.select(cfg, "model.param_budget") == 0
