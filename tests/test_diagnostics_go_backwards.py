"""Diagnostics never trace a go_backwards layer: its steps run in reverse time order, so the
task's marked positions (in time order) would point at the wrong steps. A run says so and
records none; the tracer refuses in one line."""

from __future__ import annotations

import logging

import pytest
import torch
from omegaconf import OmegaConf

import tasks
import variants
from gatebench.diagnostics.callback import diagnostics_callbacks
from gatebench.diagnostics.trace import trace_layer


def test_a_go_backwards_run_gets_no_diagnostics_and_a_warning(caplog) -> None:
    task = tasks.build("adding", length=10)
    on = {"diagnostics": {"enabled": True, "every": None, "batch_size": 8}, "run_dir": "/tmp/x"}
    forward = OmegaConf.create({**on, "variant": {"name": "lstm", "go_backwards": False}})
    backward = OmegaConf.create({**on, "variant": {"name": "lstm", "go_backwards": True}})
    assert len(diagnostics_callbacks(forward, task)) == 1
    with caplog.at_level(logging.WARNING):
        assert diagnostics_callbacks(backward, task) == []
    assert "diagnostics off for this run: a go_backwards layer" in caplog.text


def test_the_tracer_refuses_a_go_backwards_layer() -> None:
    layer = variants.build("lstm", 2, 4, go_backwards=True, batch_first=True)
    x = torch.randn(3, 5, 2)
    with pytest.raises(ValueError, match=r"^diagnostics: a go_backwards layer is not traced"):
        trace_layer(layer, lambda: layer(x)[0].sum())
    forward = variants.build("lstm", 2, 4, batch_first=True)
    assert trace_layer(forward, lambda: forward(x)[0].sum()).gates["f"].shape[1] == 5
