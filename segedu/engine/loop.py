"""The one training loop of segedu: :func:`train_steps`, by optimizer steps.

Every model of the course and of the zoo trains here. :func:`segedu.engine.fit`, the loop of the
labs and chapters, is its front by epochs (a model called as ``model(inputs)``, a
``loss_fn(outputs, targets)``, validation, a history, progress bars); the zoo's recipes
(:func:`segedu.zoo.recipe.train_run`) give it their own ``compute_loss(batch)`` (detection
models that return a dict of losses, a set criterion, prompts decoded image by image).

One step: the loss under autocast (float16 with a loss scaler, or bfloat16), the finite-loss
check, the update (:func:`~segedu.engine.update.optimizer_step`: backward, clipping, optimizer,
schedule), then the caller's ``after_step``. A run keeps itself in one resume file
(:mod:`~segedu.engine.resume`) and a restarted call goes on from it as if it had never stopped.
Started by ``torchrun`` with several processes (a ``DistributedDataParallel`` model,
:func:`~segedu.engine.distributed.data_parallel`), it keeps each process's generators and only
the main process writes and logs.

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

from .amp import amp_applies, autocast, loss_scaler
from .batch import check_finite, check_loss
from .distributed import this_process, unwrap
from .resume import ResumeFile
from .rng import set_rng_state
from .update import optimizer_step

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
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Optimizer steps ``start .. steps - 1`` of ``model``; return what the last logged step said.

    Args:
        compute_loss: ``batch -> loss`` (a scalar tensor) or ``(loss, parts)``, ``parts`` a dict
            of named scalar tensors (the terms of the loss) that the log shows. It runs under
            autocast to ``amp_dtype`` on a CUDA ``device`` when ``amp_dtype`` is given.
        batches: an iterator of batches, one ``next`` per step (:func:`cycle` of a loader), or a
            function ``first_step -> iterator`` that starts the data order at a step (a resumed
            run then draws no batch twice; :func:`~segedu.engine.data_order.replay_batches`).
        model: whose parameters ``grad_clip`` measures (a ``DistributedDataParallel`` wrapper
            under ``torchrun``; the resume file keeps the model inside); optimizer: built on them.
        steps, start: the steps to run (``start > 0`` continues a run split in two calls).
        scheduler: stepped after every optimizer step (:class:`~segedu.engine.WarmupCosine`).
        grad_clip: clip the gradient norm of all of ``model``'s parameters to this.
        device, amp_dtype: mixed precision on a CUDA ``device``: ``torch.float16`` (with a loss
            scaler, :func:`~segedu.engine.amp.loss_scaler`, kept in the resume file) or
            ``torch.bfloat16`` (no scaling needed); ``None``, or another device: float32.
        log, log_every: a line every ``log_every`` steps and at the last one (``log=None``:
            silent; ``log_every=None``: no step lines, for a caller that logs its own in
            ``after_step``; a resumed run's first line is logged either way).
        update: ``(loss, step) -> None``, for a family whose update is its own (DINO's: the
            backward pass and clipping, the head's last layer frozen for a while, the optimizer,
            then the teacher's EMA); default :func:`~segedu.engine.update.optimizer_step` with
            ``grad_clip``. The ``scheduler`` is stepped after it either way.
        after_step: ``(step, values) -> None`` after every update, ``values`` the loss and its
            parts as floats (a family's own log, a validation, an evaluation during training).
        resume_file: where the run is kept (:class:`~segedu.engine.resume.ResumeFile`), written
            after every ``save_every`` steps (after ``after_step``). A call that finds the file
            goes on from its step, exactly as the run that never stopped: weights, optimizer,
            schedule, loss scaler, ``state``, the random generators and the data order
            (``batches(step)`` when ``batches`` is a function; an iterator has the batches
            already trained on drawn again and skipped). The file is removed when the run is
            complete, unless ``keep_resume_file`` (then it is written at the end too, and a
            later call finds the run complete and trains nothing).
        state: the run's own objects that the resume file keeps, by name (a teacher, a loss's
            centre, a generator, a dict of progress).
        data: the data order's signature (``EpochBatchSampler.signature()``, or what decides a
            recipe's order: its seed and batch); a resume file of another one is refused.

    The loss is read on the CPU at every step (a diverged run stops at once with a
    ``FloatingPointError`` naming the step). Returns ``steps``, ``first_step`` (where this call
    began: a resumed run's step), ``seconds`` and ``minutes`` (of every call of the run; ``None``
    when an earlier call did not record its time), ``loss`` and the parts, as floats, at the
    last logged step.
    """
    _check_arguments(steps=steps, start=start, update=update, grad_clip=grad_clip,
                     save_every=save_every)
    device = torch.device(device)
    use_amp = amp_dtype is not None and amp_applies(device)
    scaler = loss_scaler(amp_dtype, device)  # float16's; bfloat16 and float32 need none
    if log is not None and not this_process().is_main:
        log = None  # one process speaks for all
    began = time.perf_counter()
    # 1. a run that stopped goes on from its resume file: its objects first, then the data order
    kept = None if resume_file is None else ResumeFile(
        resume_file, model=unwrap(model), optimizer=optimizer, scheduler=scheduler,
        scaler=scaler, state=state, data=data)
    resumed = kept.load(device) if kept is not None else None
    first, seconds_before = (start, 0.0) if resumed is None else (resumed.step, resumed.seconds)
    batches = batches(first) if callable(batches) else _skip(batches, first - start)
    if resumed is not None:
        set_rng_state(resumed.rng)  # as after the last saved step, once the data order is set
        if log is not None:
            log(f"resuming from step {first} ({kept.path})")

    def seconds() -> float | None:
        return None if seconds_before is None else seconds_before + time.perf_counter() - began

    # 2. the steps
    last: dict[str, float] = {}
    for step in range(first, steps):
        with autocast(device, enabled=use_amp, dtype=amp_dtype or torch.float16):
            loss, parts, value = _loss(compute_loss, next(batches), step)
        if update is None:
            optimizer_step(loss, model=model, optimizer=optimizer, scaler=scaler,
                           grad_clip=grad_clip, scheduler=scheduler)
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
            kept.save(step + 1, seconds())
        if logs:
            last = values
            if log is not None:
                log(_line(step + 1, steps, values, seconds()))
    # 3. a complete run needs its resume file no more (unless asked to keep it)
    if kept is not None and not keep_resume_file:
        kept.remove()
    took = seconds()
    return {"steps": steps, "first_step": first, "seconds": took,
            "minutes": None if took is None else took / 60, **last}


def _loss(compute_loss: Callable[[Any], torch.Tensor | LossAndParts], batch: Any,
          step: int) -> tuple[torch.Tensor, Mapping[str, torch.Tensor], float]:
    """``(loss, parts, value)`` of ``batch`` at ``step``: the loss checked to be a scalar, its
    terms, and its value read on the CPU; a value that is not finite stops the run at once."""
    out = compute_loss(batch)
    loss, parts = out if isinstance(out, tuple) else (out, {})
    loss = check_loss(loss)
    value = float(loss.detach())
    if not math.isfinite(value):
        check_finite(value, step=step, parts={k: float(v.detach()) for k, v in parts.items()})
    return loss, parts, value


def _check_arguments(*, steps, start, update, grad_clip, save_every) -> None:
    """Refuse a wrong call before any work is done, saying what is wrong."""
    if not isinstance(steps, int) or not 0 <= start <= steps:
        raise ValueError(f"need integers 0 <= start <= steps, got start={start!r}, steps={steps!r}")
    if update is not None and grad_clip is not None:
        raise ValueError("grad_clip belongs to the default update; a custom update clips itself")
    if isinstance(save_every, bool) or not isinstance(save_every, int) or save_every < 1:
        raise ValueError(f"save_every must be a positive integer, got {save_every!r}")


def _line(done: int, steps: int, values: dict[str, float], seconds: float | None) -> str:
    """The log's line after step ``done``: the loss, its terms, the minutes so far."""
    terms = ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k != "loss")
    took = "?" if seconds is None else f"{seconds / 60:.1f}"
    return (f"step {done}/{steps}: loss {values['loss']:.4f}{f' ({terms})' if terms else ''}, "
            f"{took} min")


def _skip(batches: Iterator[Any], count: int) -> Iterator[Any]:
    """``batches`` after drawing ``count`` of them: the data order of a run that never stopped."""
    for _ in range(count):
        next(batches)
    return batches
