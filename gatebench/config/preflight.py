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


UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2: no limit) -> None


def _inactive_file(stat: Path, keys: tuple[str, ...]) -> int:
    """Page cache the kernel drops before it OOM-kills (memory.stat), 0 if unreadable."""
    try:
        lines = dict(line.split() for line in stat.read_text().splitlines() if " " in line)
    except (OSError, ValueError):
        return 0
    for key in keys:
        if lines.get(key, "").isdigit():
            return int(lines[key])
    return 0


def _levels(base: Path, path: str) -> list[Path]:
    """The cgroup `path` under the hierarchy mounted at `base` and its ancestors up to `base`
    (just `base` when the path is not there: a cgroup namespace shows its own root)."""
    leaf = base / path.strip("/")
    if not leaf.is_dir():
        return [base]
    levels = [leaf]
    while levels[-1] != base and base in levels[-1].parents:
        levels.append(levels[-1].parent)
    return levels


def cgroup_free_bytes(
    proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """Memory this process's cgroup may still use: over its cgroup and every ancestor with a
    limit, the least `limit - (usage - inactive page cache)`. cgroup v2 (`0::<path>` in
    `proc_cgroup`; memory.max, memory.current under `root` or `root/unified`) and v1
    (`N:...memory...:<path>`; memory.limit_in_bytes, memory.usage_in_bytes under
    `root/memory`). None when no limit applies or nothing can be read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, str, tuple[str, ...]]] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            for base in (root, root / "unified"):
                candidates += [(d / "memory.max", "memory.current", ("inactive_file",))
                               for d in _levels(base, path)]
        elif "memory" in controllers.split(","):
            inactive = ("total_inactive_file", "inactive_file")
            candidates += [(d / "memory.limit_in_bytes", "memory.usage_in_bytes", inactive)
                           for d in _levels(root / controllers, path)]
    free: int | None = None
    for limit_file, usage_name, inactive in candidates:
        limit = _read_int(limit_file)
        if limit is None or limit >= UNLIMITED:
            continue
        usage = _read_int(limit_file.parent / usage_name) or 0
        cache = _inactive_file(limit_file.parent / "memory.stat", inactive)
        left = limit - max(usage - cache, 0)
        free = left if free is None else min(free, left)
    return free


def available_bytes(
    device: str, proc_cgroup: Path = Path("/proc/self/cgroup"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int | None:
    """Free memory on `device`: CUDA's free memory, or MemAvailable capped by what this
    process's cgroup (v1 or v2, its own path and its ancestors) still allows."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        meminfo = ""
    found = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    free = int(found.group(1)) * 1024 if found else None
    limit = cgroup_free_bytes(proc_cgroup, cgroup_root)
    if limit is not None:
        free = limit if free is None else min(free, limit)
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
