"""Shared test fixtures: compose the real Hydra config, shrunk to run in a second on CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "conf"

# Tiny but real: every knob the runner has, at sizes that train 20 steps in well under a second.
TINY = [
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "trainer.log_every_n_steps=5",
    "threads=1",
    "logger=none",
]


def compose_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """The real `conf/train.yaml` composed with `overrides`, writing into `run_dir`."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        return compose("train", overrides=[*overrides, f"run_dir={run_dir}"])


@pytest.fixture
def full_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """`full_config(*overrides)`: the real config at its real sizes (composition checks)."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(list(overrides), tmp_path / "run")

    return make


@pytest.fixture
def tiny_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """`tiny_config(*overrides, run_dir=None)`: the shrunk config; later overrides win."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_config([*TINY, *overrides], run_dir or tmp_path / "run")

    return make
