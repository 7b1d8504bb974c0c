"""The plateau rule: stop a run once its validation loss has flattened.

Lightning's `EarlyStopping` on `val/norm_loss` (the loss over the task's trivial baseline, so one
`min_delta` means the same on every task and length): the run stops when `patience` validations
in a row did not lower the best value by more than `min_delta`. Its state (best value, count)
is saved in `last.ckpt`, so a resumed run keeps counting where it stopped.
"""

from __future__ import annotations

from typing import Any

MONITOR = "val/norm_loss"


def plateau_callback(cfg: Any) -> Any | None:
    """An `EarlyStopping` callback for `cfg.plateau` (None when `plateau.patience` is null)."""
    plateau = cfg.get("plateau") or {}
    patience = plateau.get("patience")
    if patience is None:
        return None
    from pytorch_lightning.callbacks import EarlyStopping

    return EarlyStopping(
        monitor=MONITOR,
        mode="min",
        patience=int(patience),
        min_delta=float(plateau.get("min_delta", 0.0)),
        check_on_train_epoch_end=False,  # validations run every N steps, not at epoch ends
        check_finite=False,  # a non-finite loss is the divergence check's to report
        strict=True,
    )


def stopped_by(trainer: Any, steps_to_solve: int | None, status: str) -> str | None:
    """Why training ended: `solved`, `plateau`, `max_steps`, or None (diverged, failed)."""
    if status not in ("solved", "finished"):
        return None
    if steps_to_solve is not None:
        return "solved"
    from pytorch_lightning.callbacks import EarlyStopping

    for callback in getattr(trainer, "callbacks", None) or []:
        if isinstance(callback, EarlyStopping) and callback.wait_count >= callback.patience:
            return "plateau"
    return "max_steps"
