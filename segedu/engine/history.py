"""What a training run reports: the loss curve and the validation results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .distributed import all_reduce_sum

__all__ = ["History", "RunningLoss"]


@dataclass
class History:
    """The record of one training run, returned by :func:`segedu.engine.fit`.

    Attributes:
        train: one dict per logged step: ``{"step", "epoch", "loss", "lr"}``. ``loss`` is the mean
            training loss over the steps since the previous record (over all processes in DDP);
            ``epoch`` counts from 1; ``lr`` is the learning rate of the first parameter group.
        val: one dict per validation: ``{"step", "epoch", "loss", <metric name>: value, ...}``.
        seconds: the wall-clock time of the training that made the weights, summed over the calls
            of a resumed run (the steps redone after an interruption count once); ``None`` when a
            call resumed from a checkpoint that did not record it.

    >>> history.losses[-1] < history.losses[0]          # doctest: +SKIP
    >>> steps, miou = history.metric("miou")            # doctest: +SKIP
    """

    train: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    seconds: float | None = 0.0

    @property
    def steps(self) -> list[int]:
        """Steps at which the training loss was recorded."""
        return [int(r["step"]) for r in self.train]

    @property
    def losses(self) -> list[float]:
        """Recorded training losses, in order."""
        return [r["loss"] for r in self.train]

    def metric(self, name: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of a validation result such as ``"loss"`` or ``"pixel_accuracy"``."""
        if not any(name in r for r in self.val):
            known = sorted({k for r in self.val for k in r} - {"step", "epoch"})
            raise KeyError(f"no validation result named {name!r}; recorded: {known}")
        rows = [r for r in self.val if name in r]
        return [int(r["step"]) for r in rows], [r[name] for r in rows]

    def state_dict(self) -> dict[str, Any]:
        """Plain lists and dicts, for checkpoints."""
        return {"train": [dict(r) for r in self.train], "val": [dict(r) for r in self.val],
                "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train = [dict(r) for r in state["train"]]
        self.val = [dict(r) for r in state["val"]]
        self.seconds = state.get("seconds")  # None: written before the time was recorded

    def __repr__(self) -> str:
        last = ""
        if self.train:
            last = f", last loss {self.train[-1]['loss']:.4g} at step {int(self.train[-1]['step'])}"
        return f"History({len(self.train)} loss records{last}, {len(self.val)} validations)"


class RunningLoss:
    """The losses since the last record, summed on the device.

    Summed in float32 on the device, read once per record (a sum over every process of a
    multi-GPU run).
    """

    def __init__(self, device: torch.device) -> None:
        self.total = torch.zeros((), dtype=torch.float32, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor | float) -> None:
        """Add one step's loss: a tensor (summed where it is) or its value read already."""
        self.total += loss.detach().float() if isinstance(loss, torch.Tensor) else float(loss)
        self.count += 1

    def pop_mean(self) -> float:
        """Mean over the steps since the last call (and over all processes); then start afresh."""
        both = torch.stack([self.total, torch.tensor(float(self.count), device=self.total.device)])
        total, count = all_reduce_sum(both).tolist()
        self.total.zero_()
        self.count = 0
        return total / count if count else float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total.detach().cpu().clone(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = state["total"].to(self.total.device, torch.float32)
        self.count = int(state["count"])
