"""DataLoaders that feed a GPU from the on-the-fly generators, with the same batches for any number
of workers.

A synthetic item ``i`` depends only on ``(seed, i)`` (``SyntheticScenes``, ``SyntheticCells``), so
the generator can be split between ``DataLoader`` worker processes without changing what is drawn:
the sampler cuts the epoch into batches of indices, batch ``b`` goes to worker ``b mod W``, and the
loader hands the batches back in order. :func:`synthetic_loader` builds such a loader:

- **seeded**: the shuffled order comes from a ``torch.Generator`` of the sampler's own, seeded
  with ``seed`` (not from the global one, nor from the loader's, which also seeds the workers), so
  the same seed gives the same batches, epoch after epoch, with 0, 1 or 2 workers;
- **persistent**: the workers are started once and kept between epochs (``persistent_workers``),
  so a Colab session with 2 CPU cores does not pay their start-up every epoch;
- **per-worker seeds**: each worker seeds numpy's and Python's global generators from its own torch
  seed (which torch derives from the loader's generator and the worker's id), so a random transform
  that draws from them is reproducible for a given number of workers. (Random transforms that draw
  from a global generator cannot give the same numbers with and without workers: the draws happen
  in other processes. The generators' own randomness is per item and never has this problem.)

:func:`default_workers` is the number of workers a training cell should use: on CUDA every CPU core
but a small budget left for the main process (at least 1, at most 4); on the CPU, 0, because there
the workers would take the cores the training itself uses.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from ..config import device as best_device

__all__ = ["default_workers", "synthetic_loader"]


def default_workers(device: torch.device | str | None = None) -> int:
    """Workers for a training loader: ``min(4, cores - 1)`` (at least 1) on CUDA, else 0.

    ``device`` defaults to :func:`segedu.config.device`.
    """
    if device is None:
        device = best_device()
    if torch.device(device).type != "cuda":
        return 0
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else (os.cpu_count() or 1))
    return max(1, min(4, cores - 1))


def _seed_worker(worker_id: int) -> None:
    """In a worker: numpy's and Python's global generators from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32  # torch's per-worker seed: loader base seed + worker id
    np.random.seed(seed)
    random.seed(seed)


def synthetic_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` split between persistent, seeded workers
    (module docstring).

    Args:
        dataset: a map-style dataset whose item ``i`` depends only on ``i`` (e.g.
            ``SyntheticScenes``); then the batches do not depend on ``num_workers``.
        batch_size, shuffle, drop_last, collate_fn: as for ``DataLoader``.
        seed: seeds the loader's own generator: the shuffled order of every epoch.
        num_workers: worker processes; ``None`` gives :func:`default_workers` of ``device``.
        device: where the batches go (default :func:`segedu.config.device`): pins memory and
            picks the default number of workers for CUDA.

    Returns:
        the ``DataLoader``; ``segedu.engine.fit`` keeps its workers and collate function.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if device is None:
        device = best_device()
    if num_workers is None:
        num_workers = default_workers(device)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    # the order has a generator of its own: the loader's generator also gives each epoch's worker
    # seeds, once per epoch without persistent workers and once in all with them, which would make
    # the order depend on the number of workers
    order = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, generator=order) if shuffle else SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        pin_memory=torch.device(device).type == "cuda",
        generator=torch.Generator().manual_seed(seed),
    )
