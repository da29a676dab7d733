"""What a checkpoint of a training run holds, and how a run continues from one.

To continue *exactly* where it stopped, a run needs more than the weights:

- the optimizer state (momentum, Adam's moment estimates), the scheduler and the ``GradScaler``;
- where it was: optimizer steps done, current epoch, batches of that epoch already trained on;
- what decides the data order (seed, dataset length, batch size, number of processes);
- the states of the random generators of every process (dropout, augmentation);
- the history so far, and the losses summed since the last history record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from segedu.engine.checkpoint import CheckpointError
from segedu.engine.data_order import EpochBatchSampler
from segedu.engine.distributed import all_gather_object
from segedu.engine.history import History, RunningLoss
from segedu.engine.rng import get_rng_state, set_rng_state

__all__ = ["Position", "data_signature", "capture_training_state", "restore_training_state"]


@dataclass
class Position:
    """Where a run stands: ``step`` optimizer steps done, in epoch ``epoch`` (from 0), of which
    ``batch`` batches are done."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def data_signature(order: EpochBatchSampler) -> dict[str, Any]:
    """Everything that fixes the data order; a run can only resume with the same values."""
    return {
        "seed": order.seed,
        "num_samples": order.num_samples,
        "batch_size": order.batch_size,
        "shuffle": order.shuffle,
        "drop_last": order.drop_last,
        "world_size": order.world_size,
    }


def capture_training_state(
    *,
    model: nn.Module,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    history: History,
    running_loss: RunningLoss,
    position: Position,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The complete state of the run. With several processes every one must call this (it
    gathers their random states); only the main process needs to save the result."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "position": asdict(position),
        "data": dict(data),
        "history": history.state_dict(),
        "running_loss": running_loss.state_dict(),
        "rng": all_gather_object(get_rng_state()),  # one entry per process
    }


def restore_training_state(
    state: dict[str, Any],
    *,
    path: Path,
    model: nn.Module,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    history: History,
    running_loss: RunningLoss,
    data: dict[str, Any],
    rank: int,
) -> Position:
    """Load ``state`` (read from ``path``) into the run's objects; return where to continue.

    Raises :class:`CheckpointError` when the checkpoint belongs to a different set-up: another
    model, another data order, a scheduler on one side only.
    """
    # 1. the data order must be the one the checkpoint was trained with
    saved = state["data"]
    changed = [f"{k}: {saved.get(k)!r} then, {v!r} now"
               for k, v in data.items() if saved.get(k) != v]
    if changed:
        raise CheckpointError(
            f"{path} was written with another data set-up ({'; '.join(changed)}), so its run "
            "cannot be continued; use a new checkpoint_dir or pass resume=False"
        )
    # 2. weights, optimizer, scheduler and loss scaler
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path} does not fit this model or optimizer: {error}") from error
    if (scheduler is None) != (state["scheduler"] is None):
        has = "has" if state["scheduler"] is not None else "has no"
        raise CheckpointError(f"{path} {has} scheduler state, "
                              f"but fit was given scheduler={scheduler!r}")
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state["scaler"]:  # empty when written without AMP
        scaler.load_state_dict(state["scaler"])
    # 3. the record so far
    history.load_state_dict(state["history"])
    running_loss.load_state_dict(state["running_loss"])
    # 4. every process gets back its own random generators
    set_rng_state(state["rng"][rank])
    return Position(**state["position"])
