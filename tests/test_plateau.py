"""The plateau rule (Lightning's EarlyStopping on val/norm_loss): when it stops a run, what the
record says, and that a resumed run keeps the rule's count instead of starting it again."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gatebench.config.validation import ConfigError
from gatebench.run.resume import plan_start
from gatebench.train import train

# lr 1e-9: the weights do not move, so val/norm_loss is the same at every validation (flat).
FLAT = ["task=adding", "task.length=6", "optimizer.lr=1e-9", "trainer.val_check_interval=10"]


def _val_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f) if r.get("val/norm_loss")]


def test_a_flat_loss_stops_after_patience_validations_without_improvement(tiny_config) -> None:
    # validation at 10 sets the best; 20, 30, 40 do not improve it by > min_delta: stop at 40
    record = train(tiny_config(*FLAT, "trainer.max_steps=200", "plateau.patience=3",
                               "logger=csv"))
    assert record["status"] == "finished" and record["stopped_by"] == "plateau"
    assert record["steps"] == 40
    assert _val_steps(Path(record["run_dir"]))[-1] == 40


def test_without_the_rule_the_run_goes_to_max_steps(tiny_config) -> None:
    record = train(tiny_config(*FLAT, "trainer.max_steps=50"))
    assert record["steps"] == 50 and record["stopped_by"] == "max_steps"


def test_an_improving_loss_is_not_stopped(tiny_config) -> None:
    # adding at T = 6 with lr 0.03 keeps improving over 60 steps: min_delta 0 and patience 2
    # would stop a run whose loss stalled for two validations in a row
    record = train(tiny_config("task=adding", "task.length=6", "optimizer.lr=0.03",
                               "variant.hidden_size=16", "trainer.max_steps=60",
                               "plateau.patience=5", "plateau.min_delta=0.0"))
    assert record["stopped_by"] in ("max_steps", "solved") and record["steps"] <= 60
    assert record["stopped_by"] != "plateau"


def test_a_resumed_run_keeps_the_count_of_the_rule(tiny_config) -> None:
    # to step 30: best at 10, no improvement at 20 and 30 (count 2 of 3); resumed to step 200,
    # the restored count reaches 3 at step 40. A rule started afresh would stop at 70.
    first = train(tiny_config(*FLAT, "trainer.max_steps=30", "plateau.patience=3"))
    assert first["stopped_by"] == "max_steps" and first["steps"] == 30
    resumed = train(tiny_config(*FLAT, "trainer.max_steps=200", "plateau.patience=3",
                                "ckpt_path=last"))
    assert resumed["stopped_by"] == "plateau" and resumed["steps"] == 40


def test_a_run_stopped_by_the_rule_is_final_for_a_rerun_sweep(tiny_config) -> None:
    from omegaconf import OmegaConf

    record = train(tiny_config(*FLAT, "trainer.max_steps=200", "plateau.patience=2"))
    assert record["stopped_by"] == "plateau" and record["steps"] < 200
    cfg = tiny_config(*FLAT, "trainer.max_steps=200", "plateau.patience=2")
    plan = plan_start(cfg, OmegaConf.to_container(cfg, resolve=True), multirun=True)
    assert plan.final_record is not None and plan.final_record["steps"] == record["steps"]


@pytest.mark.parametrize(
    ("override", "key"),
    [("plateau.patience=0", "plateau.patience"), ("plateau.min_delta=-1", "plateau.min_delta")],
)
def test_bad_plateau_values_are_refused_naming_the_key(tiny_config, override, key) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}=.* is invalid: expected"):
        train(tiny_config(*FLAT, override))
