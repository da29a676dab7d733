"""One optimisation step: the five lines at the heart of every training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .amp import autocast
from .batch import check_loss

__all__ = ["train_step"]


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
    # 2. backward pass: forget the previous gradients, compute the new ones (of the scaled loss)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    # 3. optional: clip the gradient norm, measured on the true (unscaled) gradients
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    # 4. the update (the scaler skips it when float16 gradients overflowed), then the new scale
    scaler.step(optimizer)
    scaler.update()
    # 5. the learning-rate schedule advances once per step
    if scheduler is not None:
        scheduler.step()
    return loss.detach()
