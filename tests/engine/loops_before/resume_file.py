"""The resume file of a step-based run (:func:`segedu.engine.train_steps`): what it keeps and how
a restarted run goes on from it.

:func:`segedu.engine.fit` keeps its run in ``last.pt`` (:mod:`segedu.engine.resume`); a run of
:func:`~segedu.engine.train_steps` keeps a file of the same kind, written atomically
(:func:`~segedu.engine.checkpoint.save_checkpoint`) every ``save_every`` steps:

- the weights, the optimizer and the scheduler;
- ``step`` (the optimizer steps done) and ``minutes`` (the training time of every call so far);
- the random generators (:func:`~segedu.engine.rng.get_rng_state`: dropout, augmentation);
- ``state``: the run's own objects, by name: anything with ``state_dict`` /
  ``load_state_dict`` (a teacher network, a loss's centre), a ``torch.Generator``, a NumPy
  ``Generator``, a ``dict`` or a ``list`` (restored in place).

A restarted run loads it into the same objects and goes on at ``step``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segedu.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from segedu.engine.rng import get_rng_state, set_rng_state

__all__ = ["ResumeFile"]


class ResumeFile:
    """The resume file at ``path`` of a run of ``model``, ``optimizer``, ``scheduler`` (or
    ``None``) and the named objects of ``state`` (module docstring)."""

    def __init__(self, path: str | os.PathLike, *, model: nn.Module, optimizer: Any,
                 scheduler: Any = None, state: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.state = dict(state or {})
        for name, obj in self.state.items():
            _state_of(name, obj)  # refuse an object it cannot keep before the run starts

    def save(self, step: int, minutes: float) -> None:
        """Write the run as it is after ``step`` steps of ``minutes`` minutes, atomically."""
        save_checkpoint({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "step": step, "minutes": minutes, "rng": get_rng_state(),
            "state": {name: _state_of(name, obj) for name, obj in self.state.items()},
        }, self.path)

    def load(self, device: torch.device | str = "cpu") -> tuple[int, float, dict] | None:
        """Load the file into the run's objects, its random states excepted; return ``(step,
        minutes, random states)``, or ``None`` when there is no file (a fresh run). The caller
        restores the random states (:func:`~segedu.engine.rng.set_rng_state`) when the data
        order is in place. A file of another run raises :class:`CheckpointError`."""
        if not self.path.is_file():
            return None
        saved = load_checkpoint(self.path, map_location=device)
        try:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            if (self.scheduler is None) != (saved["scheduler"] is None):
                raise ValueError("a scheduler on one side only")
            if self.scheduler is not None:
                self.scheduler.load_state_dict(saved["scheduler"])
            missing = set(self.state) ^ set(saved["state"])
            if missing:
                raise ValueError(f"the kept objects differ: {sorted(missing)}")
            for name, obj in self.state.items():
                _restore(obj, saved["state"][name])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{self.path} is not a resume file of this run: {error}; "
                                  "delete it to start afresh") from error
        return int(saved["step"]), float(saved["minutes"]), saved["rng"]

    @staticmethod
    def restore_rng(rng: dict) -> None:
        """Put the random generators back as the file kept them."""
        set_rng_state(rng)

    def remove(self) -> None:
        """Delete the file (the run is complete: its result is the trained model)."""
        self.path.unlink(missing_ok=True)


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
