"""The training loop that every lab and chapter of the course uses.

::

    history = fit(model, train_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  epochs=10, val_loader=val_loader, metrics={"acc": PixelAccuracy()},
                  checkpoint_dir="runs/unet")

Reading order for students: :func:`fit` below, then its run's :meth:`_Run.train` (the loop) and
:meth:`_Run.epoch`, :func:`~segedu.engine.step.train_step` (one step), then
:mod:`~segedu.engine.data_order` and :mod:`~segedu.engine.resume` (how a run survives a
disconnect) and :mod:`~segedu.engine.distributed` (several GPUs).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from segedu.config import device as default_device
from segedu.engine.amp import grad_scaler, resolve_amp
from segedu.engine.batch import check_finite, split_batch, to_device
from segedu.engine.checkpoint import load_checkpoint, save_checkpoint
from segedu.engine.data_order import mix_seed, replay_loader
from segedu.engine.distributed import barrier, init_distributed
from segedu.engine.evaluate import Prepare, evaluate
from segedu.engine.history import History, RunningLoss
from segedu.engine.live_plot import LivePlot
from segedu.engine.rng import preserved_rng

from .resume import Position, capture_training_state, data_signature, restore_training_state
from .step import train_step

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
        amp: mixed precision; ``None`` means on iff the device is CUDA.
        grad_clip: clip the gradient norm to this value.
        checkpoint_dir: folder for ``last.pt``, written atomically every ``checkpoint_every``
            steps (by default at the end of each epoch) and when training ends.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists, exactly as if the run
            had never stopped; ``False`` starts afresh (and overwrites it).
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
    run = _Run(model, train_loader, loss_fn=loss_fn, optimizer=optimizer, epochs=epochs,
               max_steps=max_steps, scheduler=scheduler, device=device, amp=amp,
               grad_clip=grad_clip, checkpoint_dir=checkpoint_dir,
               checkpoint_every=checkpoint_every, resume=resume, val_loader=val_loader,
               metrics=metrics, prepare=prepare, seed=seed, log_every=log_every,
               progress=progress, live_plot=live_plot)
    return run.train()


class _Run:
    """One call of :func:`fit`: its set-up (``__init__``: steps 1 to 6), its loop
    (:meth:`train`: steps 7 to 9, one epoch at a time in :meth:`epoch`), its validation and its
    checkpoints. The arguments are :func:`fit`'s."""

    def __init__(self, model, train_loader, *, loss_fn, optimizer, epochs, max_steps, scheduler,
                 device, amp, grad_clip, checkpoint_dir, checkpoint_every, resume, val_loader,
                 metrics, prepare, seed, log_every, progress, live_plot) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.scheduler = scheduler
        self.grad_clip, self.checkpoint_every, self.seed = grad_clip, checkpoint_every, seed
        self.val_loader, self.metrics, self.prepare = val_loader, metrics, prepare
        self.log_every = log_every
        # 1. where to run: this process's device and its place among torchrun's processes
        device = torch.device(device) if device is not None else default_device()
        self.dist = dist = init_distributed(device_type=device.type)
        if dist.enabled and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", dist.local_rank)  # one GPU per process
        self.device, self.amp = device, resolve_amp(amp, device)
        model.to(device)

        # 2. a data order that can be replayed from (seed, epoch): needed for exact resume and DDP
        self.loader, self.order = replay_loader(train_loader, seed=seed, rank=dist.rank,
                                                world_size=dist.world_size)
        self.steps_per_epoch = len(self.order)
        if self.steps_per_epoch == 0:
            raise ValueError("train_loader has no batch "
                             "(empty dataset, or drop_last with too few samples)")
        self.total_steps = _total_steps(epochs=epochs, max_steps=max_steps,
                                        steps_per_epoch=self.steps_per_epoch)

        # 3. the run's state: loss scaler (AMP), record, position in the data
        self.scaler = grad_scaler(enabled=self.amp)
        self.history = History()
        self.running_loss = RunningLoss(device)
        self.position = Position()
        self.data = data_signature(self.order)
        self.run_state = dict(model=model, optimizer=optimizer, scheduler=scheduler,
                              scaler=self.scaler, history=self.history,
                              running_loss=self.running_loss)

        # 4. continue an interrupted run: restores weights, optimizer, position and random
        # generators
        self.checkpoint_path = (Path(checkpoint_dir) / CHECKPOINT_NAME
                                if checkpoint_dir is not None else None)
        self.last_saved_step = None
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            self._resume()

        # 5. several processes: DDP averages the gradients of all processes after each backward
        self.net = model
        if dist.enabled:
            self.net = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        self.seconds_before, self.began = self.history.seconds, time.perf_counter()

        # 6. what the main process shows: progress bars and the live plot
        self.show = progress and dist.is_main
        self.plot = LivePlot(enabled=live_plot if dist.is_main else False)
        total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.epoch_bar = tqdm(total=total_epochs, initial=min(self.position.epoch, total_epochs),
                              desc="epochs", unit="epoch", disable=not self.show)

    def _resume(self) -> None:
        """Step 4: the state of ``last.pt``, and a warning when it has nothing left to train."""
        state = load_checkpoint(self.checkpoint_path, map_location=self.device)
        self.position = restore_training_state(state, path=self.checkpoint_path, data=self.data,
                                               rank=self.dist.rank, **self.run_state)
        self.last_saved_step = self.position.step
        if self.position.step >= self.total_steps and self.dist.is_main:
            warnings.warn(
                f"{self.checkpoint_path} is at step {self.position.step}: this run of "
                f"{self.total_steps} steps has nothing left to train (pass resume=False to "
                "start afresh)",
                stacklevel=4,
            )

    def train(self) -> History:
        """Steps 7 to 9: epoch after epoch up to the total steps, then the last validation and
        checkpoint; return the history."""
        position, history = self.position, self.history
        try:
            # 7. the loop: one pass of the `while` is one epoch (or what remains of it)
            while position.step < self.total_steps:
                self.epoch()
                if position.batch == self.steps_per_epoch:
                    # 8. the epoch is complete: validate, move on to the next, maybe checkpoint
                    if self.val_loader is not None:
                        self.validate()
                    position.epoch += 1
                    position.batch = 0
                    self.epoch_bar.update()
                    if self.checkpoint_due(end_of_epoch=True):
                        self.save()
            # 9. the end: a last validation and checkpoint unless they just happened
            if self.val_loader is not None and (not history.val
                                                or history.val[-1]["step"] != position.step):
                self.validate()
            self.clock()
            if self.checkpoint_path is not None and self.last_saved_step != position.step:
                self.save()
        finally:
            self.epoch_bar.close()
            self.plot.close(history)
        return history

    def epoch(self) -> None:
        """One epoch's steps (or what remains of it, or of the run)."""
        position, order = self.position, self.order
        # this epoch's order, minus the batches already done
        order.set_epoch(position.epoch, skip=position.batch)
        self.loader.generator.manual_seed(mix_seed(self.seed, position.epoch,
                                                   self.dist.rank))  # worker seeds
        todo = min(self.steps_per_epoch, position.batch + self.total_steps - position.step)
        self.net.train()  # training mode: dropout on, batch norm updates its statistics
        with tqdm(total=todo, initial=position.batch, desc=f"epoch {position.epoch + 1}",
                  unit="step", leave=False, disable=not self.show) as step_bar:
            for batch in self.loader:
                inputs, targets = split_batch(batch, where="train_loader")
                inputs, targets = to_device((inputs, targets), self.device, non_blocking=True)
                loss = train_step(self.net, inputs, targets, loss_fn=self.loss_fn,
                                  optimizer=self.optimizer, scaler=self.scaler, amp=self.amp,
                                  device=self.device, grad_clip=self.grad_clip,
                                  scheduler=self.scheduler)
                self.running_loss.add(loss)
                position.step += 1
                position.batch += 1
                step_bar.update()
                if position.step % self.log_every == 0 or position.step == self.total_steps:
                    _record_loss(self.history, self.running_loss, position, self.optimizer)
                    step_bar.set_postfix(loss=f"{self.history.losses[-1]:.4g}")
                    self.plot.update(self.history)
                if position.step == self.total_steps:
                    break
                if (position.batch < self.steps_per_epoch
                        and self.checkpoint_due(end_of_epoch=False)):
                    self.save()

    def validate(self) -> None:
        # validation must not draw from the generators that training uses
        with preserved_rng():
            results = evaluate(self.model, self.val_loader, metrics=self.metrics or {},
                               device=self.device, amp=self.amp, loss_fn=self.loss_fn,
                               prepare=self.prepare)
        self.history.val.append({"step": self.position.step, "epoch": self.position.epoch + 1,
                                 **results})
        self.plot.update(self.history, force=True)
        self.epoch_bar.set_postfix({k: f"{v:.4g}" for k, v in results.items()})

    def checkpoint_due(self, *, end_of_epoch: bool) -> bool:
        if self.checkpoint_path is None:
            return False
        if self.checkpoint_every is None:
            return end_of_epoch
        return self.position.step % self.checkpoint_every == 0

    def clock(self) -> None:  # the history's training time: the earlier calls' plus this one's
        if self.history.seconds is not None:
            self.history.seconds = self.seconds_before + time.perf_counter() - self.began

    def save(self) -> None:
        self.clock()
        state = capture_training_state(position=self.position, data=self.data,
                                       **self.run_state)  # all processes
        if self.dist.is_main:
            save_checkpoint(state, self.checkpoint_path)
        barrier()  # the others wait until the file is complete: they may read it next
        self.last_saved_step = self.position.step


def _record_loss(history: History, running_loss: RunningLoss, position: Position,
                 optimizer: Any) -> None:
    """Append the mean loss since the last record; stop at once if training has diverged."""
    loss = running_loss.pop_mean()
    check_finite(loss, step=position.step)
    lr = optimizer.param_groups[0]["lr"]
    history.train.append({"step": position.step, "epoch": position.epoch + 1, "loss": loss,
                          "lr": float(lr)})


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

