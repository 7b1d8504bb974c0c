"""Checks that a run can run here, made before training starts: the accelerator exists, and the
activations kept for backpropagation through time fit in the memory available."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gatebench.config.validation import ConfigError

GB = 1e9


def check_accelerator(cfg: DictConfig) -> str:
    """The device kind the run trains on ("cpu" or "cuda"); ConfigError for `gpu` without one."""
    import torch

    accelerator = str(cfg.trainer.get("accelerator", "cpu")).lower()
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator!r} is invalid here: torch sees no CUDA GPU "
                "(torch.cuda.is_available() is False); use trainer=cpu"
            )
        return "cuda"
    if accelerator == "auto" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def activation_bytes(layer: Any, batch_size: int, length: int, itemsize: int) -> int:
    """Bytes a training step keeps for BPTT, estimated from the layer's weights: per step, each
    layer and direction saves its gate pre-activations and activations (2 x G*H, G*H being the
    rows of `weight_hh`) and its state (2 x H), plus the layer input (`weight_ih` columns)."""
    per_step = 0
    for name, weight in layer.named_parameters():
        if name.startswith("weight_hh"):
            rows, hidden = weight.shape[0], weight.shape[1]
            per_step += 2 * rows + 2 * hidden
        elif name.startswith("weight_ih_l0"):
            per_step += weight.shape[1]
    return int(batch_size) * int(length) * per_step * itemsize


def available_bytes(device: str) -> int | None:
    """Free memory on `device`: CUDA's free memory, or MemAvailable capped by a cgroup limit."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    found = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    free = int(found.group(1)) * 1024 if found else None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit.isdigit() and free is not None:
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def check_memory(cfg: DictConfig, model: Any, device: str) -> int:
    """The estimated bytes of a training step's activations; ConfigError when they exceed the
    memory available on `device` (naming task.length, data.batch_size and the estimate)."""
    itemsize = 8 if str(cfg.trainer.get("precision", "32")).startswith("64") else 4
    length = max(int(cfg.task.length), int(cfg.data.get("test_length") or 0))
    need = activation_bytes(model.layer, cfg.data.batch_size, length, itemsize)
    free = available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(
            f"task.length={cfg.task.length} with data.batch_size={cfg.data.batch_size} needs "
            f"about {need / GB:,.1f} GB for its activations (estimate), more than the "
            f"{free / GB:,.1f} GB free on {device}: lower task.length or data.batch_size"
        )
    return need
