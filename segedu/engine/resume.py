"""The resume file: what a stopped run needs to go on as if it had never stopped.

Every run of :func:`segedu.engine.train_steps` (so every run of :func:`segedu.engine.fit` and of
the zoo's recipes) keeps one file of this layout, written atomically
(:func:`~segedu.engine.checkpoint.save_checkpoint`) every ``save_every`` steps:

- ``step``: the optimizer steps done, the run's position (an epoch-based run is at epoch and
  batch ``divmod(step, batches per epoch)``); ``seconds``: the training time of every call so
  far (``None`` when an earlier call did not record it);
- ``data``: the data order's signature (what fixes the order: seed, dataset length, batch
  size...); a run goes on only with the same one;
- ``rng``: every random generator (:func:`~segedu.engine.rng.get_rng_state`: dropout,
  augmentation), one entry per process of a multi-GPU run;
- ``model``, ``optimizer``, ``scheduler`` and ``scaler`` (float16 mixed precision's loss
  scale): the weights, the optimizer's moments, the schedule;
- ``state``: the run's own objects by name (``fit``'s history, a teacher network, a generator,
  a dict of progress): anything with ``state_dict`` / ``load_state_dict``, a ``torch`` or
  NumPy ``Generator``, a ``dict`` or a ``list`` (restored in place).

Files of the two loops before this one are read too (:func:`read_resume_file`): ``fit``'s
``last.pt`` (keys ``position``, ``history``, ``running_loss``) and ``train_steps``' resume file
(keys ``step``, ``minutes``); the next save writes the layout above.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .distributed import all_gather_object, barrier, this_process
from .rng import get_rng_state

__all__ = ["ResumeFile", "Resumed", "read_resume_file", "kept_state", "LAYOUT"]

LAYOUT = 2  # the layout above; 1: the two files of the loops before it
FIT_STATE = ("history", "running_loss")  # what fit's last.pt kept beside its training state


@dataclass(frozen=True)
class Resumed:
    """Where a resumed run goes on: after ``step`` steps of ``seconds`` (``None``: unknown),
    with this process's random generators ``rng`` (to restore once its data order is set)."""

    step: int
    seconds: float | None
    rng: dict[str, Any]


class ResumeFile:
    """The resume file at ``path`` of a run of ``model`` (its weights, without a
    ``DistributedDataParallel`` wrapper), ``optimizer``, ``scheduler`` and ``scaler`` (or
    ``None``), the named objects of ``state`` and the data order's signature ``data`` (or
    ``None``) (module docstring)."""

    def __init__(self, path: str | os.PathLike, *, model: nn.Module, optimizer: Any,
                 scheduler: Any = None, scaler: Any = None,
                 state: Mapping[str, Any] | None = None,
                 data: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.model, self.optimizer = model, optimizer
        self.scheduler, self.scaler = scheduler, scaler
        self.state = dict(state or {})
        self.data = None if data is None else dict(data)
        for name, obj in self.state.items():
            _state_of(name, obj)  # refuse an object it cannot keep before the run starts

    def save(self, step: int, seconds: float | None) -> None:
        """Write the run as it is after ``step`` steps of ``seconds``, atomically. With several
        processes every one calls this (it gathers their generators); the main one writes, the
        others wait until the file is complete."""
        rng = all_gather_object(get_rng_state())  # one entry per process
        if this_process().is_main:
            save_checkpoint({
                "layout": LAYOUT, "step": step, "seconds": seconds, "data": self.data, "rng": rng,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "state": {name: _state_of(name, obj) for name, obj in self.state.items()},
            }, self.path)
        barrier()  # the others may read it next

    def load(self, device: torch.device | str = "cpu") -> Resumed | None:
        """Load the file into the run's objects, the random generators excepted; ``None`` when
        there is none (a fresh run). A file of another run (another model, data order,
        scheduler, kept objects) raises :class:`CheckpointError` naming what differs."""
        saved = read_resume_file(self.path, device)
        if saved is None:
            return None
        self._check_data(saved["data"])
        try:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            if (self.scheduler is None) != (saved["scheduler"] is None):
                has = "has no" if saved["scheduler"] is None else "has"
                raise ValueError(f"the file {has} scheduler state, the run "
                                 f"{'has a' if self.scheduler is not None else 'has no'} scheduler")
            if self.scheduler is not None:
                self.scheduler.load_state_dict(saved["scheduler"])
            if self.scaler is not None and saved["scaler"]:  # {} or None: written without one
                self.scaler.load_state_dict(saved["scaler"])
            kept = saved["state"]
            differ = set(self.state) ^ set(kept)
            if saved["layout"] == 1 and "position" in saved["older"]:
                differ -= set(FIT_STATE) - set(self.state)  # fit's own record, if not kept
            if differ:
                raise ValueError(f"the kept objects differ: {sorted(differ)}")
            for name, obj in self.state.items():
                _restore(obj, kept[name])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{self.path} is not a resume file of this run: {error}; "
                                  "delete it to start afresh") from error
        rank = this_process().rank
        if rank >= len(saved["rng"]):
            raise CheckpointError(f"{self.path} was written by {len(saved['rng'])} process(es); "
                                  f"this is process {rank}")
        return Resumed(int(saved["step"]), saved["seconds"], saved["rng"][rank])

    def _check_data(self, saved: Mapping[str, Any] | None) -> None:
        """The data order must be the one the file was trained with (when both say it)."""
        if saved is None or self.data is None:
            return
        changed = [f"{k}: {saved.get(k)!r} then, {v!r} now"
                   for k, v in self.data.items() if saved.get(k) != v]
        if changed:
            raise CheckpointError(
                f"{self.path} was written with another data set-up ({'; '.join(changed)}), so "
                "its run cannot be continued; delete it (fit: pass resume=False) to start afresh")

    def remove(self) -> None:
        """Delete the file (the run is complete: its result is the trained model)."""
        if this_process().is_main:
            self.path.unlink(missing_ok=True)


def read_resume_file(path: str | os.PathLike,
                     device: torch.device | str = "cpu") -> dict[str, Any] | None:
    """The resume file at ``path`` in the layout of the module docstring (a file of the loops
    before it converted, its own keys kept under ``"older"``), or ``None`` when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    saved = load_checkpoint(path, map_location=device)
    if saved.get("layout") == LAYOUT:
        return saved
    common = {key: saved.get(key) for key in ("model", "optimizer", "scheduler")}
    if "position" in saved:  # fit's last.pt: its record, position in epochs, one rng a process
        return {**common, "layout": 1, "older": saved, "step": int(saved["position"]["step"]),
                "seconds": saved["history"].get("seconds"), "data": saved["data"],
                "rng": saved["rng"], "scaler": saved["scaler"],
                "state": {name: saved[name] for name in FIT_STATE}}
    if "step" in saved and "minutes" in saved:  # train_steps' file: one process, no scaler
        return {**common, "layout": 1, "older": saved, "step": int(saved["step"]),
                "seconds": float(saved["minutes"]) * 60, "data": None, "rng": [saved["rng"]],
                "scaler": None, "state": saved["state"]}
    raise CheckpointError(f"{path} is a segedu checkpoint but not a resume file of a run")


def kept_state(path: str | os.PathLike, name: str) -> Any:
    """What the resume file at ``path`` keeps of the run's object ``name`` (as its
    ``state_dict``, or the dict or list itself), or ``None`` when there is no file: a run that
    decided something before its first save (the steps a timed run laid out) reads it back."""
    saved = read_resume_file(path)
    return None if saved is None else saved["state"].get(name)


def _state_of(name: str, obj: Any) -> Any:
    """What the file keeps of ``obj``."""
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
        return obj.state_dict()
    if isinstance(obj, (dict, list)):
        return type(obj)(obj)
    raise TypeError(f"the resume file cannot keep state[{name!r}], a {type(obj).__name__}: give "
                    "an object with state_dict/load_state_dict, a generator, a dict or a list")


def _restore(obj: Any, value: Any) -> None:
    """Put ``value`` (what :func:`_state_of` kept) back into ``obj``, in place."""
    if isinstance(obj, torch.Generator):
        obj.set_state(value)
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = value
    elif hasattr(obj, "load_state_dict"):
        obj.load_state_dict(value)
    elif isinstance(obj, dict):
        obj.clear()
        obj.update(value)
    else:
        obj[:] = value
