"""Checkpoints written atomically (temp file, fsync, rename) and read with a one-line error.

Lightning writes `last.ckpt` in place, so a full disk or a kill mid-write leaves a truncated
file that the next resume cannot read. Here the previous checkpoint stays whole until the new
one is complete, as `results.json` already is (`gatebench.run.records.write_json_atomic`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from gatebench.config.validation import ConfigError
from gatebench.run import termination
from gatebench.run.records import file_mode


class CheckpointError(ConfigError):
    """A checkpoint that cannot be read; the message names its path and how to start afresh."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose save never leaves a partial file at the checkpoint's path."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at `path` (on CPU); CheckpointError, naming the path, if it is unreadable."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(checkpoint, dict) or "global_step" not in checkpoint:
            raise ValueError("not a Lightning checkpoint (no global_step)")
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one line
        reason = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
        raise CheckpointError(
            f"ckpt_path: checkpoint {str(path)!r} is unreadable ({type(error).__name__}: "
            f"{reason}); to start afresh, delete it or use a new run directory"
        ) from None
    return checkpoint


class FinalCheckpoint(pl.Callback):
    """`last.ckpt` of the final weights when training ends (a run shorter than its validation
    interval, or ending between validations, has them too) and of the step at which a SIGTERM
    stopped training (with the loggers' rows up to it flushed), so that a resume goes on from
    there. A save is skipped when `last.ckpt` already holds this step."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._saved: int | None = None

    def _save(self, trainer: pl.Trainer) -> None:
        saved = {self._saved, *(getattr(c, "_last_global_step_saved", None)
                                for c in trainer.checkpoint_callbacks)}
        if trainer.global_step not in saved or not self.path.is_file():
            trainer.save_checkpoint(self.path)
            self._saved = trainer.global_step

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        # a SIGTERM that came before Lightning set its handler (it resets its flag when it does)
        if termination.received() and not trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = True  # stop at this batch's end

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # only while training between batches: mid-validation the previous checkpoint stays
        if not termination.is_termination(exception) or trainer.state.fn != "fit":
            return
        if trainer.validating or trainer.sanity_checking:
            return
        self._save(trainer)
        for logger in trainer.loggers:
            logger.save()
