"""``fit``: the training loop that every lab and chapter of the course uses, by epochs.

::

    history = fit(model, train_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  epochs=10, val_loader=val_loader, metrics={"acc": PixelAccuracy()},
                  checkpoint_dir="runs/unet")

``fit`` is the front of the one loop, :func:`segedu.engine.train_steps`: it says what a step is
for a model called as ``model(inputs)`` and a ``loss_fn(outputs, targets)``, where the batches
come from (the loader's order replayed from ``(seed, epoch)``), and what happens between steps
(the history, validation at the end of each epoch, progress bars, the live plot); the loop does
the steps, mixed precision, the resume file ``last.pt`` and the processes of a multi-GPU run.

Reading order for students: :func:`fit` below, then its run's :meth:`_EpochRun.train`,
:func:`~segedu.engine.update.train_step` (one step), the loop
(:func:`~segedu.engine.loop.train_steps`), then :mod:`~segedu.engine.data_order` and
:mod:`~segedu.engine.resume` (how a run survives a disconnect) and
:mod:`~segedu.engine.distributed` (several GPUs).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import device as default_device
from .amp import resolve_amp
from .batch import check_finite, split_batch, to_device
from .data_order import replay_batches
from .distributed import data_parallel, init_distributed
from .evaluate import Prepare, evaluate
from .history import History, RunningLoss
from .live_plot import LivePlot
from .loop import train_steps
from .rng import preserved_rng

__all__ = ["fit", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "last.pt"


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    *,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int | None = None,
    max_steps: int | None = None,
    scheduler: Any = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    grad_clip: float | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    val_loader: DataLoader | None = None,
    metrics: Mapping[str, Any] | None = None,
    prepare: Prepare | None = None,
    seed: int = 0,
    log_every: int = 10,
    progress: bool = True,
    live_plot: bool | None = None,
) -> History:
    """Train ``model`` in place on ``train_loader``; return the :class:`History` of the run.

    Args:
        model: called as ``model(inputs)`` on each batch ``(inputs, targets)``.
        train_loader: a ``DataLoader`` built with ``batch_size`` and ``shuffle``; ``fit`` replays
            its order from ``seed`` (see :mod:`segedu.engine.data_order`).
        loss_fn: ``loss_fn(outputs, targets)`` -> scalar tensor. ``targets`` may be a tensor or
            dicts / lists of tensors; they arrive on the device.
        optimizer: built on ``model.parameters()``.
        epochs, max_steps: stop after ``epochs`` passes over the data or ``max_steps`` optimizer
            steps, whichever comes first; at least one of them is needed.
        scheduler: a learning-rate scheduler, stepped after every optimizer step (so give it
            its length in steps, e.g. ``WarmupCosine(optimizer, total_steps)`` of
            :mod:`segedu.engine.schedule`, or ``OneCycleLR(..., total_steps=...)``).
        device: ``None`` is :func:`segedu.config.device` (CUDA, then MPS, then CPU).
        amp: mixed precision (float16 with a loss scaler); ``None`` means on iff the device is
            CUDA.
        grad_clip: clip the gradient norm to this value.
        checkpoint_dir: folder for ``last.pt`` (the run's resume file,
            :mod:`segedu.engine.resume`), written atomically every ``checkpoint_every`` steps
            (by default at the end of each epoch) and when training ends.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists, exactly as if the run
            had never stopped; ``False`` starts afresh (and deletes it).
        val_loader, metrics, prepare: validate at the end of each epoch and of training with
            :func:`segedu.engine.evaluate` (``"loss"`` is always reported). Validation leaves
            the random generators as it found them: it never changes the trained weights.
        seed: seed of the data order.
        log_every: record the mean training loss every this many steps (also refreshes the
            progress bar and the live plot).
        progress: show progress bars (``tqdm``).
        live_plot: loss curve redrawn in place; ``None`` means on iff running in a notebook.

    Started by ``torchrun`` with several processes, ``fit`` trains with
    ``DistributedDataParallel``: each process takes ``train_loader.batch_size`` samples per step.
    """
    _check_arguments(
        model=model, loss_fn=loss_fn, optimizer=optimizer, epochs=epochs, max_steps=max_steps,
        scheduler=scheduler, grad_clip=grad_clip, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, val_loader=val_loader, metrics=metrics, seed=seed,
        log_every=log_every,
    )
    run = _EpochRun(model, train_loader, loss_fn=loss_fn, device=device, amp=amp, epochs=epochs,
                    max_steps=max_steps, val_loader=val_loader, metrics=metrics,
                    prepare=prepare, seed=seed, log_every=log_every, progress=progress,
                    live_plot=live_plot)
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    return run.train(optimizer=optimizer, scheduler=scheduler, grad_clip=grad_clip, path=path,
                     save_every=checkpoint_every, resume=resume)


class _EpochRun:
    """One call of :func:`fit`: its set-up (``__init__``), what it gives the loop (the batches
    of each epoch, the loss of a batch, what follows a step: :meth:`after_step`) and its
    validation. The arguments are :func:`fit`'s."""

    def __init__(self, model, train_loader, *, loss_fn, device, amp, epochs, max_steps,
                 val_loader, metrics, prepare, seed, log_every, progress, live_plot) -> None:
        self.model, self.loss_fn, self.log_every = model, loss_fn, log_every
        self.val_loader, self.metrics, self.prepare = val_loader, metrics, prepare
        # 1. where to run: this process's device and its place among torchrun's processes
        device = torch.device(device) if device is not None else default_device()
        dist = init_distributed(device_type=device.type)
        if dist.enabled and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", dist.local_rank)  # one GPU per process
        self.device, self.amp = device, resolve_amp(amp, device)
        model.to(device)
        # 2. a data order that can be replayed from (seed, epoch): needed for exact resume and DDP
        self.batches, self.order = replay_batches(train_loader, seed=seed, rank=dist.rank,
                                                  world_size=dist.world_size,
                                                  on_epoch=self.start_epoch)
        self.steps_per_epoch = len(self.order)
        self.total_steps = _total_steps(epochs=epochs, max_steps=max_steps,
                                        steps_per_epoch=self.steps_per_epoch)
        # 3. several processes: DDP averages the gradients of all processes after each backward
        self.net = data_parallel(model, device)
        # 4. the record, and what the main process shows: progress bars and the live plot
        self.history, self.running_loss = History(), RunningLoss(device)
        self.show = progress and dist.is_main
        self.plot = LivePlot(enabled=live_plot if dist.is_main else False)
        self.epoch_bar = self.step_bar = None

    def train(self, *, optimizer, scheduler, grad_clip, path, save_every, resume) -> History:
        """The steps, through the loop (its resume file at ``path``, written every
        ``save_every`` steps or at the end of each epoch, and at the end); return the history."""
        self.optimizer = optimizer  # its rate goes into the history
        if path is not None and not resume:
            path.unlink(missing_ok=True)  # start afresh
        try:
            run = train_steps(
                self.compute_loss, self.batches, model=self.net, optimizer=optimizer,
                steps=self.total_steps, scheduler=scheduler, grad_clip=grad_clip,
                device=self.device, amp_dtype=torch.float16 if self.amp else None, log=None,
                log_every=None, after_step=self.after_step, resume_file=path,
                save_every=save_every or self.steps_per_epoch, keep_resume_file=True,
                state={"history": self.history, "running_loss": self.running_loss},
                data=self.order.signature())
        finally:
            for bar in (self.step_bar, self.epoch_bar):
                if bar is not None:
                    bar.close()
            self.plot.close(self.history)
        # the training time of the steps that made the weights, over every call of the run
        self.history.seconds = run["seconds"]
        if run["first_step"] >= self.total_steps and path is not None:
            warnings.warn(f"{path} is at step {run['first_step']}: this run of {self.total_steps} "
                          "steps has nothing left to train (pass resume=False to start afresh)",
                          stacklevel=3)
        return self.history

    def start_epoch(self, epoch: int, skip: int) -> None:
        """Before the first batch of ``epoch`` (of which ``skip`` batches are done)."""
        self.net.train()  # training mode: dropout on, batch norm updates its statistics
        if self.epoch_bar is None:
            total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
            self.epoch_bar = tqdm(total=total_epochs, initial=min(epoch, total_epochs),
                                  desc="epochs", unit="epoch", disable=not self.show)
        done = epoch * self.steps_per_epoch + skip
        self.step_bar = tqdm(total=min(self.steps_per_epoch, skip + self.total_steps - done),
                             initial=skip, desc=f"epoch {epoch + 1}", unit="step", leave=False,
                             disable=not self.show)

    def compute_loss(self, batch: Any) -> torch.Tensor:
        """The loss of one batch ``(inputs, targets)``: ``loss_fn(model(inputs), targets)``."""
        inputs, targets = split_batch(batch, where="train_loader")
        inputs, targets = to_device((inputs, targets), self.device, non_blocking=True)
        return self.loss_fn(self.net(inputs), targets)

    def after_step(self, step: int, values: dict[str, float]) -> None:
        """After step ``step`` (from 0): the history's loss every ``log_every`` steps; at the
        end of an epoch (and of the run), validation."""
        done, history = step + 1, self.history
        epoch = step // self.steps_per_epoch + 1  # counted from 1
        self.running_loss.add(values["loss"])
        self.step_bar.update()
        if done % self.log_every == 0 or done == self.total_steps:
            loss = self.running_loss.pop_mean()  # since the last record, over every process
            check_finite(loss, step=done)
            history.train.append({"step": done, "epoch": epoch, "loss": loss,
                                  "lr": float(self.optimizer.param_groups[0]["lr"])})
            self.step_bar.set_postfix(loss=f"{loss:.4g}")
            self.plot.update(history)
        epoch_done = done % self.steps_per_epoch == 0
        if epoch_done or done == self.total_steps:
            self.step_bar.close()
        if self.val_loader is not None and (epoch_done or done == self.total_steps) and (
                not history.val or history.val[-1]["step"] != done):
            self.validate(done, epoch)
        if epoch_done:
            self.epoch_bar.update()

    def validate(self, done: int, epoch: int) -> None:
        # validation must not draw from the generators that training uses
        with preserved_rng():
            results = evaluate(self.model, self.val_loader, metrics=self.metrics or {},
                               device=self.device, amp=self.amp, loss_fn=self.loss_fn,
                               prepare=self.prepare)
        self.history.val.append({"step": done, "epoch": epoch, **results})
        self.plot.update(self.history, force=True)
        self.epoch_bar.set_postfix({k: f"{v:.4g}" for k, v in results.items()})


def _total_steps(*, epochs: int | None, max_steps: int | None, steps_per_epoch: int) -> int:
    """Optimizer steps of the whole run: the first of the two limits reached."""
    limits = []
    if epochs is not None:
        limits.append(epochs * steps_per_epoch)
    if max_steps is not None:
        limits.append(max_steps)
    return min(limits)


def _positive_int(name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_arguments(*, model, loss_fn, optimizer, epochs, max_steps, scheduler, grad_clip,
                     checkpoint_dir, checkpoint_every, val_loader, metrics, seed,
                     log_every) -> None:
    """Refuse a wrong call before any work is done, with a message that says what to change."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {loss_fn!r}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")
    model_params = {id(p) for p in model.parameters()}
    if not any(id(p) in model_params for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("the optimizer holds none of the model's parameters: build it with "
                         "torch.optim.SGD(model.parameters(), ...) on this very model")
    if epochs is None and max_steps is None:
        raise ValueError("say how long to train: pass epochs=..., max_steps=... or both")
    _positive_int("epochs", epochs)
    _positive_int("max_steps", max_steps)
    _positive_int("checkpoint_every", checkpoint_every)
    _positive_int("log_every", log_every, optional=False)
    if scheduler is not None and not (callable(getattr(scheduler, "step", None))
                                      and callable(getattr(scheduler, "state_dict", None))):
        raise TypeError(f"scheduler must be a torch.optim.lr_scheduler object, "
                        f"got {type(scheduler).__name__}")
    if grad_clip is not None and (isinstance(grad_clip, bool)
                                  or not isinstance(grad_clip, int | float)
                                  or not grad_clip > 0):
        raise ValueError(f"grad_clip must be a positive number, got {grad_clip!r}")
    if checkpoint_every is not None and checkpoint_dir is None:
        raise ValueError("checkpoint_every needs checkpoint_dir: where should the checkpoints go?")
    if metrics is not None and val_loader is None:
        raise ValueError("metrics are computed on val_loader: pass val_loader=... as well")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict {{name: metric}}, got {type(metrics).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
