"""Assemble a run's record: what the config says at the start, what the built task and model
say, and how the run ended. Written to `results.json` by `gatebench.train`."""

from __future__ import annotations

import datetime
import os
import socket
from typing import Any

from omegaconf import DictConfig


def utc_now() -> str:
    """The current time as an ISO-8601 UTC stamp (seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def start_record(cfg: DictConfig, config: dict[str, Any], launch_id: str) -> dict[str, Any]:
    """The run's record with everything the config alone says (the rest is filled in later)."""
    import torch

    from gatebench.run.records import new_record

    options = {k: v for k, v in config["variant"].items() if k not in ("name", "label")}
    if cfg.variant_label != cfg.variant.name:
        options["cell"] = cfg.variant.name  # a preset: keep the registry name of its cell
    return new_record(
        run_name=cfg.run_name,
        launch_id=launch_id,
        variant=cfg.variant_label,
        variant_options=options,
        task={
            "name": cfg.task.name,
            "params": {k: v for k, v in config["task"].items() if k != "name"},
        },
        length=cfg.task.length,
        seed=cfg.seed,
        config=config,
        run_dir=str(cfg.run_dir),
        host=socket.gethostname(),
        pid=os.getpid(),
        torch_threads=torch.get_num_threads(),
        started_at=utc_now(),
    )


def describe(record: dict[str, Any], task: Any, model: Any) -> None:
    """Fill in what only the built task and model know."""
    import variants

    record["variant_options"]["hidden_size"] = model.hidden_size  # param_budget may choose it
    record.update(
        task={"name": task.name, "params": dict(task.params)},
        length=task.length,
        metric=f"val/{task.primary_metric}",
        metric_mode=task.primary_mode,
        baseline=float(task.baseline()),
        params=variants.count_parameters(model),
        recurrent_params=variants.count_parameters(model.layer),
        hidden_size=model.hidden_size,
        param_budget=model.param_budget,
        readout=model.readout_rule,
        test_lengths=list(model.test_lengths),
        test_baselines={str(n): b for n, b in model.test_baselines.items()},
    )


def split_test_blocks(test: dict[str, float], lengths: list[int], length: int) -> tuple[
    dict[str, float], dict[str, dict[str, float]]
]:
    """The flat test metrics of `trainer.test` -> (`test`, `tests`).

    `test` keeps the `test/<name>` metrics (at the training `length`); `tests` has one block
    per test length, keyed by the length as a string, each with `test/<name>` keys (the model
    logs length L as `test_T<L>/<name>`, see `SequenceModel.test_metric_prefix`).
    """
    at_length = {k: v for k, v in test.items() if k.startswith("test/")}
    blocks: dict[str, dict[str, float]] = {}
    for n in lengths:
        prefix = "test/" if n == length else f"test_T{n}/"
        block = {
            "test/" + k.removeprefix(prefix): v for k, v in test.items() if k.startswith(prefix)
        }
        if block:
            blocks[str(n)] = block
    return at_length, blocks


def finish_record(
    record: dict[str, Any],
    status: str,
    message: str | None,
    steps: int,
    tracker: Any,
    wall_time_s: float,
) -> None:
    """Fill in how the run ended: status, the step it reached (a diverged or failed run's too),
    the tracked metrics and the times (`wall_time_s` summed over every process of the run);
    split the test metrics into `test` (at the training length) and `tests` (one block per
    length)."""
    if record.get("test_lengths"):
        record["test"], record["tests"] = split_test_blocks(
            record.get("test") or {}, record["test_lengths"], record["length"]
        )
    record.update(
        status=status,
        message=message,
        steps=int(steps),
        steps_to_solve=tracker.steps_to_solve if tracker else None,
        final=tracker.final if tracker else {},
        best=tracker.best if tracker else {},
        norm_loss=tracker.final.get("val/norm_loss") if tracker else None,
        wall_time_s=round(wall_time_s, 3),
        ended_at=utc_now(),
    )


def failure_record(cfg: DictConfig, message: str, launch_id: str) -> dict[str, Any]:
    """The record of a multirun job that failed before it could train (a config error): status
    `failed` with its one-line message, and whatever the config says about the run."""
    from omegaconf import OmegaConf

    try:
        config = OmegaConf.to_container(cfg, resolve=True)
        record = start_record(cfg, config, launch_id)
    except Exception:  # noqa: BLE001 - the config itself may be what is broken
        from gatebench.run.records import new_record

        config = OmegaConf.to_container(cfg, resolve=False)
        record = new_record(
            run_name=OmegaConf.select(cfg, "run_name", throw_on_resolution_failure=False),
            launch_id=launch_id,
            config=config,
            run_dir=str(OmegaConf.select(cfg, "run_dir", default="")),
            started_at=utc_now(),
        )
    record.update(status="failed", message=message, ended_at=utc_now())
    return record
