"""One optimisation step: the five lines at the heart of every training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from segedu.engine.amp import autocast
from segedu.engine.batch import check_loss

__all__ = ["train_step", "optimizer_step"]


def train_step(
    model: nn.Module,
    inputs: Any,
    targets: Any,
    *,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    amp: bool,
    device: torch.device,
    grad_clip: float | None = None,
    scheduler: Any = None,
) -> torch.Tensor:
    """Train ``model`` on one batch; return the batch loss (a detached scalar tensor).

    ``inputs`` (e.g. images ``(N, C, H, W)``) and ``targets`` are already on ``device``.
    """
    # 1. forward pass: predictions and loss (float16 where safe when AMP is on)
    with autocast(device, enabled=amp):
        outputs = model(inputs)
        loss = check_loss(loss_fn(outputs, targets))
    optimizer_step(loss, model=model, optimizer=optimizer, scaler=scaler, grad_clip=grad_clip,
                   scheduler=scheduler)
    return loss.detach()


def optimizer_step(
    loss: torch.Tensor,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any = None,
    grad_clip: float | None = None,
    scheduler: Any = None,
) -> None:
    """Backward pass of ``loss``, optional clipping, the update, the schedule's next rate.

    The same for :func:`train_step` (``fit``) and :func:`segedu.engine.train_steps` (the zoo's
    recipes). ``scaler``: a :func:`~segedu.engine.amp.grad_scaler` (float16 AMP), or ``None``
    (float32 or bfloat16: no scaling); ``grad_clip``: the largest gradient norm, measured on
    the true (unscaled) gradients of all of ``model``'s parameters.
    """
    # 1. backward pass: forget the previous gradients, compute the new ones (of the scaled loss)
    optimizer.zero_grad(set_to_none=True)
    (loss if scaler is None else scaler.scale(loss)).backward()
    # 2. optional: clip the gradient norm, measured on the true (unscaled) gradients
    if grad_clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    # 3. the update (the scaler skips it when float16 gradients overflowed), then the new scale
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    # 4. the learning-rate schedule advances once per step
    if scheduler is not None:
        scheduler.step()
