"""The step-based loop of the zoo's recipes, beside :func:`segedu.engine.fit`.

``fit`` trains a model called as ``model(inputs)`` with ``loss_fn(outputs, targets)``, by epochs,
with checkpoints, validation and resume. The zoo's detection, panoptic and promptable recipes
compute their loss in their own way (``model(images, targets)`` returning a dict of losses, a
set criterion, prompts decoded image by image), so they give :func:`train_steps` a function
``compute_loss(batch)`` instead; the rest (autocast, the finite-loss check, the update with
clipping, the schedule, the log) is the same code as ``fit``'s
(:func:`~segedu.engine.amp.autocast`, :func:`~segedu.engine.batch.check_finite`,
:func:`~segedu.engine.step.optimizer_step`).

::

    batches = cycle(loader)  # endless: epoch after epoch
    run = train_steps(lambda batch: sum(model(*batch).values()), batches, model=model,
                      optimizer=optimizer, steps=600, scheduler=WarmupCosine(optimizer, 600))
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from .amp import autocast
from .batch import check_finite, check_loss
from .step import optimizer_step

__all__ = ["train_steps", "cycle"]

LossAndParts = tuple[torch.Tensor, Mapping[str, torch.Tensor]]


def cycle(loader: Iterable[Any]) -> Iterator[Any]:
    """The batches of ``loader``, epoch after epoch, without end (a new ``iter`` each epoch, so a
    shuffling ``DataLoader`` draws a new order from its generator each time)."""
    while True:
        yield from loader


def train_steps(
    compute_loss: Callable[[Any], torch.Tensor | LossAndParts],
    batches: Iterator[Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: int,
    start: int = 0,
    scheduler: Any = None,
    grad_clip: float | None = None,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    log: Callable[[str], None] | None = print,
    log_every: int = 200,
    update: Callable[[torch.Tensor, int], None] | None = None,
    after_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """Optimizer steps ``start .. steps - 1`` of ``model``; return what the last logged step said.

    Args:
        compute_loss: ``batch -> loss`` (a scalar tensor) or ``(loss, parts)``, ``parts`` a dict
            of named scalar tensors (the terms of the loss) that the log shows. It runs under
            autocast to ``amp_dtype`` on a CUDA ``device`` when ``amp_dtype`` is given.
        batches: an iterator of batches, one ``next`` per step (:func:`cycle` of a loader).
        model: whose parameters ``grad_clip`` measures; optimizer: built on them.
        steps, start: the steps to run (``start > 0`` continues a run split in two calls).
        scheduler: stepped after every optimizer step (:class:`~segedu.engine.WarmupCosine`).
        grad_clip: clip the gradient norm of all of ``model``'s parameters to this.
        log, log_every: a line every ``log_every`` steps and at the last one (``None``: silent).
        update: ``(loss, step) -> None``, for a family whose update is its own (DINO's: the
            backward pass and clipping, the head's last layer frozen for a while, the optimizer,
            then the teacher's EMA); default :func:`~segedu.engine.step.optimizer_step` with
            ``grad_clip``. The ``scheduler`` is stepped after it either way.
        after_step: ``(step, values) -> None`` after every update, ``values`` the loss and its
            parts as floats (a family's own log, an evaluation during training).

    The loss is read on the CPU at every step (a diverged run stops at once with a
    ``FloatingPointError`` naming the step). Returns ``steps``, ``minutes`` (of this call),
    ``loss`` and the parts, as floats, at the last step.
    """
    if not isinstance(steps, int) or not 0 <= start <= steps:
        raise ValueError(f"need integers 0 <= start <= steps, got start={start!r}, steps={steps!r}")
    if update is not None and grad_clip is not None:
        raise ValueError("grad_clip belongs to the default update; a custom update clips itself")
    device = torch.device(device)
    use_amp = amp_dtype is not None and device.type == "cuda"
    began, last = time.perf_counter(), {}
    for step in range(start, steps):
        batch = next(batches)
        with autocast(device, enabled=use_amp, dtype=amp_dtype or torch.float16):
            out = compute_loss(batch)
        loss, parts = out if isinstance(out, tuple) else (out, {})
        loss = check_loss(loss)
        value = float(loss.detach())
        if not math.isfinite(value):
            check_finite(value, step=step, parts={k: float(v.detach()) for k, v in parts.items()})
        if update is None:
            optimizer_step(loss, model=model, optimizer=optimizer, grad_clip=grad_clip,
                           scheduler=scheduler)
        else:
            update(loss, step)
            if scheduler is not None:
                scheduler.step()
        logs = (step + 1) % log_every == 0 or step + 1 == steps
        if after_step is not None or logs:  # read the parts off the device once
            values = {"loss": value, **{k: float(v.detach()) for k, v in parts.items()}}
        if after_step is not None:
            after_step(step, dict(values))
        if logs:
            last = values
            if log is not None:
                minutes = (time.perf_counter() - began) / 60
                terms = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "loss")
                log(f"step {step + 1}/{steps}: loss {value:.4f}"
                    f"{f' ({terms})' if terms else ''}, {minutes:.1f} min")
    return {"steps": steps, "minutes": (time.perf_counter() - began) / 60, **last}
