"""What a batch looks like to the engine, and how it reaches the device.

Every loader that :func:`segedu.engine.fit` and :func:`segedu.engine.evaluate` read yields pairs
``(inputs, targets)``. ``inputs`` is what the model is called with (usually an image batch
``(N, C, H, W)``); ``targets`` is whatever the loss function and the metrics expect: a tensor
``(N, H, W)``, or a dict / list of tensors (the target dicts of :mod:`segedu.data`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["to_device", "split_batch", "check_loss", "check_finite"]


def to_device(obj: Any, device: torch.device | str, *, non_blocking: bool = False) -> Any:
    """Move every tensor inside ``obj`` to ``device``, keeping the structure around them.

    ``obj`` may be a tensor, or dicts / lists / tuples nesting tensors to any depth; anything
    else (numbers, strings, ``None``) is returned unchanged. ``tv_tensors`` keep their type.

    >>> to_device({"semantic": torch.zeros(2, 4, 4)}, "cpu")["semantic"].shape
    torch.Size([2, 4, 4])
    """
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return type(obj)((k, to_device(v, device, non_blocking=non_blocking))
                         for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple: rebuild field by field
        return type(obj)(*(to_device(v, device, non_blocking=non_blocking) for v in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(v, device, non_blocking=non_blocking) for v in obj)
    return obj


def split_batch(batch: Any, *, where: str = "the loader") -> tuple[Any, Any]:
    """Return ``(inputs, targets)`` from one batch, or raise ``TypeError`` saying what is wrong.

    The default collate function turns a dataset of ``(image, target)`` items into a list
    ``[images, targets]``; both lists and tuples of length two are accepted.
    """
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, Mapping):
        got = f"a dict with keys {sorted(map(str, batch))}"
    elif isinstance(batch, list | tuple):
        got = f"a {type(batch).__name__} of length {len(batch)}"
    elif isinstance(batch, torch.Tensor):
        got = f"a single tensor of shape {tuple(batch.shape)}"
    else:
        got = type(batch).__name__
    raise TypeError(
        f"{where} must yield (inputs, targets) pairs, got {got}; "
        "make the dataset return (image, target) items"
    )


def check_loss(loss: Any) -> torch.Tensor:
    """Return ``loss`` if it is a floating scalar tensor; raise a clear error otherwise."""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(
            f"loss_fn must return a scalar (one number), got shape {tuple(loss.shape)}; "
            "average it, e.g. with reduction='mean'"
        )
    if not loss.is_floating_point():
        raise TypeError(f"loss_fn must return a floating-point tensor, got {loss.dtype}")
    return loss.reshape(())


def check_finite(loss: float, *, step: int, parts: dict[str, float] | None = None) -> None:
    """Stop at once, with what to change, if the training loss ``loss`` (read at optimizer step
    ``step``) is not finite; ``parts`` (the terms of the loss) are quoted in the message."""
    if not math.isfinite(loss):
        terms = ", ".join(f"{k} {v:.4g}" for k, v in (parts or {}).items())
        terms = f" ({terms})" if terms else ""
        raise FloatingPointError(
            f"the training loss became {loss}{terms} at step {step}: training diverged. "
            "Lower the learning rate, clip the gradients (grad_clip=1.0) or check the data."
        )
