"""Length generalisation: one test block per length, each normalised by its own baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import tasks
from gatebench.config.build import build_datamodule, build_task_and_model
from gatebench.config.validation import ConfigError
from gatebench.train import train

COPY = ["task=copy", "task.length=4", "variant=gru"]


def _copy_baseline(length: int, k: int = 10, alphabet: int = 8) -> float:
    """Copy with loss_on=all: K ln(alphabet) / (T + 2K) (Arjovsky et al. 2016; ANCHORS)."""
    return k * math.log(alphabet) / (length + 2 * k)


def test_each_test_length_is_normalised_by_its_own_baseline(tiny_config) -> None:
    cfg = tiny_config(*COPY, "data.test_lengths=[40]", "logger=csv")
    train(cfg)
    record = json.loads((Path(cfg.run_dir) / "results.json").read_text())
    assert record["test_lengths"] == [4, 40]
    assert set(record["tests"]) == {"4", "40"}
    assert record["test"] == record["tests"]["4"]
    for length in (4, 40):
        block = record["tests"][str(length)]
        expected = _copy_baseline(length)
        assert expected == pytest.approx(tasks.build("copy", length=4).baseline(length))
        assert record["test_baselines"][str(length)] == pytest.approx(expected)
        assert block["test/norm_loss"] == pytest.approx(block["test/loss"] / expected)
    # The bug this guards: the T = 40 loss over the T = 4 baseline is 60/24 = 2.5x too large.
    long = record["tests"]["40"]
    assert long["test/norm_loss"] != pytest.approx(long["test/loss"] / _copy_baseline(4))


def test_the_block_at_each_length_is_the_loss_on_that_lengths_test_set(tiny_config) -> None:
    """Recompute each block's loss from the saved final weights on the datamodule's set."""
    cfg = tiny_config(*COPY, "data.test_lengths=[4,9]", "logger=csv")
    record = train(cfg)
    task, model = build_task_and_model(cfg)
    state = torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    model.load_state_dict(state["state_dict"])
    model.eval()
    data = build_datamodule(cfg, task)
    for length in (4, 9):
        x, y, mask = data.test_set(length)
        assert x.shape[1] == length + 20  # copy: T + 2K steps
        with torch.no_grad():
            loss = float(task.loss(model(x), y, mask))
        assert record["tests"][str(length)]["test/loss"] == pytest.approx(loss, rel=1e-5)
    rows = (Path(cfg.run_dir) / "metrics.csv").read_text().splitlines()
    assert "test_T9/norm_loss" in rows[0].split(",") and "test/norm_loss" in rows[0].split(",")


def test_training_length_is_always_tested_and_lengths_are_sorted(tiny_config) -> None:
    cfg = tiny_config("task=adding", "task.length=6", "data.test_lengths=[30,12]", "test=true")
    record = train(cfg)
    assert record["test_lengths"] == [6, 12, 30]
    assert set(record["tests"]) == {"6", "12", "30"}
    assert record["test"] == record["tests"]["6"]
    for block in record["tests"].values():  # adding: baseline 1/6 at every length
        assert block["test/norm_loss"] == pytest.approx(block["test/loss"] * 6)


def test_deprecated_test_length_maps_to_test_lengths_with_a_warning(tiny_config) -> None:
    cfg = tiny_config(*COPY, "data.test_length=8")
    with pytest.warns(FutureWarning, match=r"data.test_length is deprecated.*test_lengths=\[8\]"):
        record = train(cfg)
    assert record["test_lengths"] == [4, 8] and set(record["tests"]) == {"4", "8"}
    block = record["tests"]["8"]
    assert block["test/norm_loss"] == pytest.approx(block["test/loss"] / _copy_baseline(8))


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.test_lengths=[0]", r"^data.test_lengths=\[0\] is invalid: expected a non-empty"),
        ("data.test_lengths=[-3,10]", r"^data.test_lengths=\[-3, 10\] is invalid"),
        ("data.test_lengths=[]", r"^data.test_lengths=\[\] is invalid"),
        ("data.test_lengths=5", r"^data.test_lengths=5 is invalid"),
    ],
)
def test_bad_test_lengths_are_one_line_config_errors(tiny_config, override, message) -> None:
    cfg = tiny_config(*COPY, override)
    with pytest.raises(ConfigError, match=message) as error:
        train(cfg)
    assert "\n" not in str(error.value)
    assert not (Path(cfg.run_dir) / "results.json").exists()


def test_test_length_and_test_lengths_together_are_refused(tiny_config) -> None:
    cfg = tiny_config(*COPY, "data.test_length=8", "data.test_lengths=[8]")
    with pytest.raises(ConfigError, match=r"^data.test_length is deprecated and cannot be comb"):
        train(cfg)


def test_datamodule_serves_one_loader_per_length_with_disjoint_sets() -> None:
    task = tasks.build("adding", length=5)
    dm = tasks.TaskDataModule(task, batch_size=8, test_size=12, test_lengths=[5, 10])
    dm.setup("test")
    loaders = dm.test_dataloader()
    assert isinstance(loaders, list) and len(loaders) == 2
    assert [b[0].shape[1] for b in loaders[0]] == [5, 5]
    assert [b[0].shape[1] for b in loaders[1]] == [10, 10]
    # the set at the training length is today's test set (item 0 of the test stream)
    single = tasks.TaskDataModule(task, batch_size=8, test_size=12)
    assert torch.equal(single.fixed_set("test")[0], dm.test_set(5)[0])
    # the set at length 10 is the same whatever length the run trained at
    other = tasks.TaskDataModule(tasks.build("adding", length=7), test_size=12, test_lengths=[10])
    assert torch.equal(other.test_set(10)[0], dm.test_set(10)[0])
    with pytest.raises(ValueError, match="repeated length"):
        tasks.TaskDataModule(task, test_lengths=[5, 5])
    with pytest.raises(ValueError, match="not both"):
        tasks.TaskDataModule(task, test_length=5, test_lengths=[5])
