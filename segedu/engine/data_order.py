"""A data order that can be replayed: the key to exact resume and to multi-GPU training.

A ``DataLoader(shuffle=True)`` draws a fresh random order from the global generator every epoch,
so after a crash nobody knows which samples the interrupted epoch had still to show. Here the
order of epoch ``e`` is a pure function of ``(seed, e)``:

1. shuffle the indices ``0..n-1`` with a generator seeded by ``(seed, e)`` (or keep them in order);
2. with ``world_size`` processes (DDP), pad the list to a multiple of ``world_size`` and give
   process ``rank`` every ``world_size``-th index, starting at ``rank``;
3. cut this process's indices into batches;
4. skip the batches the interrupted run had already trained on.

With ``world_size = 2`` and batches of ``B / 2``, batch ``j`` of the two processes together holds
exactly the samples of batch ``j`` of one process with batches of ``B``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

__all__ = ["EpochBatchSampler", "replay_loader", "replay_batches", "mix_seed"]


def mix_seed(*numbers: int) -> int:
    """One 63-bit seed from several integers, e.g. ``(seed, epoch)``; different tuples differ."""
    mixed = 0
    for number in numbers:
        mixed = (mixed * 1_000_003 + int(number)) % (2**63 - 1)
    return mixed


class EpochBatchSampler(Sampler[list[int]]):
    """Yields the index batches of one epoch of one process; call :meth:`set_epoch` first.

    Args:
        num_samples: length ``n`` of the dataset.
        batch_size: samples per batch *in this process*.
        shuffle: shuffle with a generator seeded by ``(seed, epoch)``; else keep ``0..n-1``.
        drop_last: drop the last, incomplete batch.
        seed: the run's data seed.
        rank, world_size: this process and the number of processes (1 without DDP).
        even: pad the indices (repeating the first ones) so that every process gets the same
            number of batches, as training needs; evaluation passes ``False`` so that no sample
            is counted twice.
    """

    def __init__(
        self,
        *,
        num_samples: int,
        batch_size: int,
        shuffle: bool,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.even = even
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        """Select the epoch to produce and how many of its first batches to leave out."""
        if not 0 <= skip <= len(self):
            raise ValueError(f"skip must lie in [0, {len(self)}], got {skip}")
        self.epoch = epoch
        self.skip = skip

    def _indices(self) -> list[int]:
        """The indices this process sees in the current epoch (steps 1 and 2)."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        if self.even and order:
            total = -(-len(order) // self.world_size) * self.world_size  # round up
            order = (order * (total // len(order) + 1))[:total]
        return order[self.rank :: self.world_size]

    def signature(self) -> dict[str, Any]:
        """Everything that fixes the order; a run can only resume with the same values."""
        return {"seed": self.seed, "num_samples": self.num_samples,
                "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "world_size": self.world_size}

    def _num_indices(self) -> int:
        if self.even:
            return -(-self.num_samples // self.world_size) if self.num_samples else 0
        return len(range(self.rank, self.num_samples, self.world_size))

    def __len__(self) -> int:
        """Batches in a whole epoch of this process (skipped ones included)."""
        n = self._num_indices()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        indices = self._indices()
        # step 3: consecutive chunks of batch_size indices; step 4: start at batch `skip`
        for b in range(self.skip, len(self)):
            yield indices[b * self.batch_size : (b + 1) * self.batch_size]


def replay_loader(
    loader: DataLoader,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    even: bool = True,
    where: str = "train_loader",
) -> tuple[DataLoader, EpochBatchSampler]:
    """Rebuild ``loader`` so that its order comes from an :class:`EpochBatchSampler`.

    Everything else is kept: dataset, ``collate_fn``, workers, pinned memory. The loader's
    ``shuffle`` is read from its sampler. Loaders with their own sampler or batch sampler are
    refused, because their order could not be replayed. Returns the new loader and its sampler;
    before each epoch call ``sampler.set_epoch(epoch, skip=...)`` and
    ``loader.generator.manual_seed(...)`` (the latter seeds the workers).
    """
    if not isinstance(loader, DataLoader):
        raise TypeError(f"{where} must be a torch.utils.data.DataLoader, "
                        f"got {type(loader).__name__}")
    dataset = loader.dataset
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise TypeError(
            f"{where} needs a dataset with __len__ and __getitem__ (a map-style dataset) so that "
            "its order can be replayed; iterable datasets are not supported"
        )
    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        raise ValueError(
            f"{where} must be built with batch_size=..., not with a custom batch_sampler: "
            "the engine orders the data itself (for exact resume and multi-GPU runs)"
        )
    shuffle = _reads_shuffle(loader.sampler, where=where)
    sampler = EpochBatchSampler(
        num_samples=len(dataset),
        batch_size=loader.batch_size,
        shuffle=shuffle,
        drop_last=loader.drop_last,
        seed=seed,
        rank=rank,
        world_size=world_size,
        even=even,
    )
    rebuilt = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        # our own generator: iterating must not draw from the global one (that would shift
        # dropout masks after a resume); reseeded per epoch, it also seeds the workers
        generator=torch.Generator(),
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
    )
    return rebuilt, sampler


def replay_batches(
    loader: DataLoader,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    on_epoch: Callable[[int, int], None] | None = None,
    where: str = "train_loader",
) -> tuple[Callable[[int], Iterator[Any]], EpochBatchSampler]:
    """The batches of ``loader`` by optimizer step, epoch after epoch without end, in the order
    of :func:`replay_loader`: ``(batches, order)`` where ``batches(first_step)`` starts at step
    ``first_step`` (its epoch, minus the batches before it: a resumed run draws no batch twice)
    and ``order`` is the sampler (``len(order)``: batches per epoch; ``order.signature()``).

    At the start of each epoch ``e`` the workers' generator is seeded from ``(seed, e, rank)``,
    then ``on_epoch(e, skip)`` runs (``skip``: the batches of ``e`` left out), before its first
    batch is drawn. What :func:`segedu.engine.fit` trains on, and the zoo's recipes that train by
    epochs of a dataset.
    """
    rebuilt, order = replay_loader(loader, seed=seed, rank=rank, world_size=world_size,
                                   where=where)
    if len(order) == 0:
        raise ValueError(f"{where} has no batch (empty dataset, or drop_last with too few "
                         "samples)")

    def batches(first_step: int) -> Iterator[Any]:
        epoch, skip = divmod(first_step, len(order))
        while True:
            order.set_epoch(epoch, skip=skip)  # this epoch's order, minus the batches done
            rebuilt.generator.manual_seed(mix_seed(seed, epoch, rank))  # the workers' seeds
            if on_epoch is not None:
                on_epoch(epoch, skip)
            yield from rebuilt
            epoch, skip = epoch + 1, 0

    return batches, order


def _reads_shuffle(sampler: Sampler, *, where: str) -> bool:
    """``shuffle`` as the user asked for it when building the loader."""
    if isinstance(sampler, DistributedSampler):
        return sampler.shuffle
    if type(sampler) is RandomSampler and not sampler.replacement and sampler._num_samples is None:
        return True
    if type(sampler) is SequentialSampler:
        return False
    raise ValueError(
        f"{where} uses the sampler {type(sampler).__name__}, whose order cannot be replayed; "
        "build the DataLoader with shuffle=True or shuffle=False and no sampler"
    )
