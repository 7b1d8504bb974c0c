"""Build a run's task and model from its config; a bad value becomes a one-line ConfigError."""

from __future__ import annotations

import warnings
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gatebench.config.validation import ConfigError


def config_error(group: str, node: DictConfig, error: Exception) -> ConfigError:
    """Restate a build error as `<group>.<key> ...` when it starts with one of the node's keys."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    message = message.removeprefix(f"{node.name}: ")
    first = message.split(" ", 1)[0].rstrip(":=")
    if first in node and first != "name":
        return ConfigError(f"{group}.{message}")
    return ConfigError(f"{group}={node.name}: {message}")


def resolve_test_lengths(cfg: DictConfig, length: int) -> list[int]:
    """The lengths a run is tested at, ascending, always including the training `length`.

    `data.test_lengths=[T, 2T, 5T]` lists them; the deprecated `data.test_length=L` means
    `data.test_lengths=[L]` (with a FutureWarning). The training length is added when missing,
    so the `test` block of the record (the one the report compares) is always at T.
    """
    data = cfg.get("data") or {}
    lengths = data.get("test_lengths")
    single = data.get("test_length")
    if single is not None:
        if lengths is not None:
            raise ConfigError(
                "data.test_length is deprecated and cannot be combined with data.test_lengths: "
                f"use data.test_lengths=[{single}] alone"
            )
        warnings.warn(
            f"data.test_length is deprecated: use data.test_lengths=[{single}] (the `test` "
            f"block is now at the training length; length {single} is in `tests`)",
            FutureWarning,
            stacklevel=2,
        )
        lengths = [single]
    listed = list(lengths) if lengths is not None else []
    return sorted({int(length), *(int(n) for n in listed)})


def build_task_and_model(cfg: DictConfig) -> tuple[Any, Any]:
    """The task and the seeded model; a ValueError/TypeError from either is a ConfigError."""
    import pytorch_lightning as pl

    import tasks
    from gatebench.training.model import SequenceModel

    task_params = {k: v for k, v in OmegaConf.to_container(cfg.task).items() if k != "name"}
    try:
        task = tasks.build(cfg.task.name, **task_params)
    except (ValueError, TypeError) as error:
        raise config_error("task", cfg.task, error) from error
    lengths = resolve_test_lengths(cfg, task.length)
    for length in lengths:
        try:
            task._check_length(length)
        except ValueError as error:
            raise ConfigError(f"data.test_lengths: {error}") from error
    variant = OmegaConf.to_container(cfg.variant, resolve=True)
    encoder_size = OmegaConf.select(cfg, "model.encoder_size", default=None)
    budget = OmegaConf.select(cfg, "model.param_budget", default=None)
    expected = None
    if budget is not None:
        from gatebench.config.param_budget import match_hidden_size

        try:
            hidden, expected = match_hidden_size(task, variant, budget, encoder_size)
            variant["hidden_size"] = hidden
        except ValueError as error:
            if str(error).startswith("is smaller"):
                raise ConfigError(
                    f"model.param_budget={budget} {error} for variant={cfg.variant_label}: "
                    "expected a larger integer"
                ) from error
            raise config_error("variant", cfg.variant, error) from error
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    try:
        model = SequenceModel(
            task,
            variant,
            OmegaConf.to_container(cfg.optimizer),
            OmegaConf.to_container(cfg.scheduler, resolve=True) if "scheduler" in cfg else None,
            encoder_size=encoder_size,
            test_lengths=lengths,
        )
    except (ValueError, TypeError) as error:
        raise config_error("variant", cfg.variant, error) from error
    model.param_budget = budget
    if expected is not None and variants_count(model) != expected:
        raise RuntimeError(f"param_budget: predicted {expected} parameters, built another count")
    return task, model


def variants_count(model: Any) -> int:
    """Trainable parameters of the whole model (`variants.count_parameters`)."""
    import variants

    return variants.count_parameters(model)


def build_datamodule(cfg: DictConfig, task: Any) -> Any:
    """The task's Lightning DataModule with the run's `data.*` settings and seed."""
    import tasks

    data = cfg.data
    with warnings.catch_warnings():  # the deprecation was already said by build_task_and_model
        warnings.simplefilter("ignore", FutureWarning)
        lengths = resolve_test_lengths(cfg, task.length)
    return tasks.TaskDataModule(
        task,
        batch_size=data.batch_size,
        val_size=data.val_size,
        test_size=data.test_size,
        seed=cfg.seed,
        train_size=data.get("train_size"),
        test_lengths=lengths,
    )
