"""Evaluation: run a model over a loader and feed the metrics, without training it.

A metric is any object with three methods, as in torchmetrics:

- ``reset()`` forgets everything seen so far,
- ``update(preds, targets)`` adds one batch,
- ``compute()`` returns the result over every batch since the last reset (a scalar).

To be summed over the processes of a multi-GPU run, a metric also has ``states()``: a dict of its
state tensors that add up over data (counts, sums, a confusion matrix), returned as the very
tensors it keeps, so that :func:`evaluate` can sum them in place. torchmetrics' metrics
synchronise themselves and need no ``states()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import device as default_device
from .amp import autocast, resolve_amp
from .batch import check_loss, split_batch, to_device
from .data_order import replay_loader
from .distributed import all_reduce_sum, init_distributed

__all__ = ["evaluate"]

Prepare = Callable[[Any, Any], tuple[Any, Any]]


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    metrics: Mapping[str, Any],
    device: torch.device | str | None = None,
    amp: bool | None = None,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    prepare: Prepare | None = None,
) -> dict[str, float]:
    """Evaluate ``model`` on every batch of ``loader``; return ``{metric name: value}``.

    Args:
        model: called as ``model(inputs)``; put in eval mode for the run (its mode is restored).
        loader: yields ``(inputs, targets)``; under ``torchrun`` each process takes its share.
        metrics: ``{name: metric}``, reset before the run (see the module docstring).
        device: where to run; ``None`` is :func:`segedu.config.device`. The model is moved there.
        amp: mixed precision (``torch.autocast``); ``None`` means on iff the device is CUDA.
        loss_fn: when given, the result also holds ``"loss"``, the mean of
            ``loss_fn(outputs, targets)`` over samples.
        prepare: ``(outputs, targets) -> (preds, targets)`` applied before the metrics, e.g.
            ``lambda out, t: (out["out"], t["semantic"])``.

    >>> evaluate(model, val_loader, metrics={"pixel_accuracy": PixelAccuracy()})  # doctest: +SKIP
    {'pixel_accuracy': 0.93}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict {{name: metric}}, got {type(metrics).__name__}")
    for name, metric in metrics.items():
        for method in ("reset", "update", "compute"):
            if not callable(getattr(metric, method, None)):
                raise TypeError(f"metric {name!r} ({type(metric).__name__}) "
                                f"has no {method}() method")
    device = torch.device(device) if device is not None else default_device()
    amp = resolve_amp(amp, device)
    info = init_distributed(device_type=device.type)
    if info.enabled:
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", info.local_rank)
        # each process evaluates every world_size-th sample, none twice
        loader, _ = replay_loader(
            loader, seed=0, rank=info.rank, world_size=info.world_size, even=False, where="loader"
        )
        for name, metric in metrics.items():
            if not (callable(getattr(metric, "states", None))
                    or hasattr(metric, "sync_on_compute")):
                raise TypeError(
                    f"metric {name!r} has no states() to sum over the {info.world_size} processes"
                )
    elif _is_empty(loader):
        raise ValueError("loader is empty: there is nothing to evaluate")

    was_training = model.training
    model.to(device).eval()  # eval mode: dropout off, batch norm uses its running statistics
    for metric in metrics.values():
        metric.reset()
    loss_sum = torch.zeros((), device=device)  # float32: Apple's MPS has no float64
    sample_count = torch.zeros((), device=device)
    try:
        with torch.no_grad():  # no graph: less memory, faster
            for batch in loader:
                inputs, targets = split_batch(batch, where="loader")
                inputs, targets = to_device((inputs, targets), device, non_blocking=True)
                with autocast(device, enabled=amp):
                    outputs = model(inputs)
                    if loss_fn is not None:
                        n = _batch_size(inputs)
                        loss_sum += check_loss(loss_fn(outputs, targets)).float() * n
                        sample_count += n
                preds, targets = prepare(outputs, targets) if prepare else (outputs, targets)
                for metric in metrics.values():
                    metric.update(preds, targets)
    finally:
        model.train(was_training)

    # with several processes, add up what every process has seen before computing
    if info.enabled:
        for metric in metrics.values():
            if callable(getattr(metric, "states", None)):
                for state in metric.states().values():
                    all_reduce_sum(state)
        all_reduce_sum(loss_sum)
        all_reduce_sum(sample_count)
    results = {name: _as_float(metric.compute(), name) for name, metric in metrics.items()}
    if loss_fn is not None:
        results["loss"] = float(loss_sum / sample_count)
    return results


def _is_empty(loader: Any) -> bool:
    try:
        return len(loader) == 0
    except TypeError:  # an iterable without a length: find out by iterating
        return False


def _batch_size(inputs: Any) -> int:
    """Samples in a batch: the first dimension of a tensor, the length of a list of images."""
    if isinstance(inputs, torch.Tensor):
        return inputs.shape[0] if inputs.ndim else 1
    if isinstance(inputs, list | tuple):
        return len(inputs)
    return 1


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise TypeError(
            f"metric {name!r} computed a tensor of shape {tuple(value.shape)}; evaluate reports "
            "scalars only (report e.g. the mean, or one metric per class)"
        )
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r} computed {type(value).__name__}, not a number") from None
