"""The step-based loop of the zoo's recipes, beside :func:`segedu.engine.fit`.

``fit`` trains a model called as ``model(inputs)`` with ``loss_fn(outputs, targets)``, by epochs,
with checkpoints, validation and resume. The zoo's detection, panoptic and promptable recipes
compute their loss in their own way (``model(images, targets)`` returning a dict of losses, a
set criterion, prompts decoded image by image), so they give :func:`train_steps` a function
``compute_loss(batch)`` instead; the rest (autocast, the finite-loss check, the update with
clipping, the schedule, the log) is the same code as ``fit``'s
(:func:`~segedu.engine.amp.autocast`, :func:`~segedu.engine.batch.check_finite`,
:func:`~segedu.engine.step.optimizer_step`). Like ``fit``, it keeps a run that may stop:
given a ``resume_file``, it writes the run there every ``save_every`` steps and a restarted call
goes on from it as if it had never stopped (:mod:`~segedu.engine.resume_file`).

::

    batches = cycle(loader)  # endless: epoch after epoch
    run = train_steps(lambda batch: sum(model(*batch).values()), batches, model=model,
                      optimizer=optimizer, steps=600, scheduler=WarmupCosine(optimizer, 600))
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from segedu.engine.amp import autocast
from segedu.engine.batch import check_finite, check_loss

from .resume_file import ResumeFile
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
    batches: Iterator[Any] | Callable[[int], Iterator[Any]],
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
    log_every: int | None = 200,
    update: Callable[[torch.Tensor, int], None] | None = None,
    after_step: Callable[[int, dict[str, float]], None] | None = None,
    resume_file: str | os.PathLike | None = None,
    save_every: int = 100,
    state: Mapping[str, Any] | None = None,
    keep_resume_file: bool = False,
) -> dict[str, float]:
    """Optimizer steps ``start .. steps - 1`` of ``model``; return what the last logged step said.

    Args:
        compute_loss: ``batch -> loss`` (a scalar tensor) or ``(loss, parts)``, ``parts`` a dict
            of named scalar tensors (the terms of the loss) that the log shows. It runs under
            autocast to ``amp_dtype`` on a CUDA ``device`` when ``amp_dtype`` is given.
        batches: an iterator of batches, one ``next`` per step (:func:`cycle` of a loader), or a
            function ``first_step -> iterator`` that starts the data order at a step (a resumed
            run then draws no batch twice).
        model: whose parameters ``grad_clip`` measures; optimizer: built on them.
        steps, start: the steps to run (``start > 0`` continues a run split in two calls).
        scheduler: stepped after every optimizer step (:class:`~segedu.engine.WarmupCosine`).
        grad_clip: clip the gradient norm of all of ``model``'s parameters to this.
        log, log_every: a line every ``log_every`` steps and at the last one (``log=None``:
            silent; ``log_every=None``: no step lines, for a caller that logs its own in
            ``after_step``; a resumed run's first line is logged either way).
        update: ``(loss, step) -> None``, for a family whose update is its own (DINO's: the
            backward pass and clipping, the head's last layer frozen for a while, the optimizer,
            then the teacher's EMA); default :func:`~segedu.engine.step.optimizer_step` with
            ``grad_clip``. The ``scheduler`` is stepped after it either way.
        after_step: ``(step, values) -> None`` after every update, ``values`` the loss and its
            parts as floats (a family's own log, an evaluation during training).
        resume_file: where the run is kept (:class:`~segedu.engine.resume_file.ResumeFile`),
            written atomically after every ``save_every`` steps (after ``after_step``). A call
            that finds the file goes on from its step, exactly as the run that never stopped:
            weights, optimizer, schedule, ``state``, the random generators and the data order
            (``batches(step)`` when ``batches`` is a function; an iterator has the batches
            already trained on drawn again and skipped). The file is removed when the run is
            complete, unless ``keep_resume_file`` (then it is written at the end too, and a
            later call finds the run complete and trains nothing).
        state: the run's own objects that the resume file keeps, by name (a teacher, a loss's
            centre, a generator, a dict of progress).

    The loss is read on the CPU at every step (a diverged run stops at once with a
    ``FloatingPointError`` naming the step). Returns ``steps``, ``minutes`` (of every call of
    the run), ``loss`` and the parts, as floats, at the last step.
    """
    if not isinstance(steps, int) or not 0 <= start <= steps:
        raise ValueError(f"need integers 0 <= start <= steps, got start={start!r}, steps={steps!r}")
    if update is not None and grad_clip is not None:
        raise ValueError("grad_clip belongs to the default update; a custom update clips itself")
    if isinstance(save_every, bool) or not isinstance(save_every, int) or save_every < 1:
        raise ValueError(f"save_every must be a positive integer, got {save_every!r}")
    device = torch.device(device)
    use_amp = amp_dtype is not None and device.type == "cuda"
    began, last, minutes_before = time.perf_counter(), {}, 0.0
    # 1. a run that stopped goes on from its resume file: its objects first, then the data order
    kept = None if resume_file is None else ResumeFile(
        resume_file, model=model, optimizer=optimizer, scheduler=scheduler, state=state)
    saved = kept.load(device) if kept is not None else None
    first = start
    if saved is not None:
        first, minutes_before, rng = saved
        if log is not None:
            log(f"resuming from step {first} ({kept.path})")
    batches = batches(first) if callable(batches) else _skip(batches, first - start)
    if saved is not None:
        kept.restore_rng(rng)  # as after the last saved step, once the data order is in place

    def minutes() -> float:
        return minutes_before + (time.perf_counter() - began) / 60

    # 2. the steps
    for step in range(first, steps):
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
        logs = log_every is not None and ((step + 1) % log_every == 0 or step + 1 == steps)
        if after_step is not None or logs:  # read the parts off the device once
            values = {"loss": value, **{k: float(v.detach()) for k, v in parts.items()}}
        if after_step is not None:
            after_step(step, dict(values))
        if kept is not None and (step + 1 < steps or keep_resume_file) and (
                (step + 1) % save_every == 0 or step + 1 == steps):
            kept.save(step + 1, minutes())
        if logs:
            last = values
            if log is not None:
                terms = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "loss")
                log(f"step {step + 1}/{steps}: loss {value:.4f}"
                    f"{f' ({terms})' if terms else ''}, {minutes():.1f} min")
    # 3. a complete run needs its resume file no more (unless asked to keep it)
    if kept is not None and not keep_resume_file:
        kept.remove()
    return {"steps": steps, "minutes": minutes(), **last}


def _skip(batches: Iterator[Any], count: int) -> Iterator[Any]:
    """``batches`` after drawing ``count`` of them: the data order of a run that never stopped."""
    for _ in range(count):
        next(batches)
    return batches
