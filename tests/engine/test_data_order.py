"""The replayable data order: a pure function of (seed, epoch), sharded over processes."""

import pytest
import torch
from torch.utils.data import DataLoader

from segedu.engine import EpochBatchSampler, replay_loader

from .tiny_problem import make_data


def batches(*, epoch=0, skip=0, **kwargs):
    sampler = EpochBatchSampler(**kwargs)
    sampler.set_epoch(epoch, skip=skip)
    return list(sampler)


def test_same_seed_and_epoch_same_order_else_different():
    kw = dict(num_samples=20, batch_size=4, shuffle=True, seed=3)
    assert batches(epoch=1, **kw) == batches(epoch=1, **kw)
    assert batches(epoch=1, **kw) != batches(epoch=2, **kw)
    assert batches(epoch=1, **kw) != batches(epoch=1, **{**kw, "seed": 4})
    flat = sorted(i for b in batches(epoch=1, **kw) for i in b)
    assert flat == list(range(20))  # a permutation: every sample once


def test_the_global_generator_is_not_touched():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    batches(num_samples=20, batch_size=4, shuffle=True)
    assert torch.equal(torch.rand(3), expected)


def test_without_shuffle_the_order_is_sequential():
    assert batches(num_samples=7, batch_size=3, shuffle=False) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches(num_samples=7, batch_size=3, shuffle=False, drop_last=True) == [[0, 1, 2],
                                                                                   [3, 4, 5]]


def test_skip_leaves_out_the_first_batches():
    kw = dict(num_samples=20, batch_size=4, shuffle=True, seed=1)
    full = batches(epoch=2, **kw)
    assert batches(epoch=2, skip=3, **kw) == full[3:]
    assert batches(epoch=2, skip=5, **kw) == []
    with pytest.raises(ValueError, match="skip must lie in"):
        batches(epoch=2, skip=6, **kw)


@pytest.mark.parametrize("n", [16, 19])
def test_two_processes_together_see_the_batches_of_one(n):
    """Batch j of ranks 0 and 1 (4 samples each) == batch j of one process with 8 samples."""
    one = batches(num_samples=n, batch_size=8, shuffle=True, seed=5, epoch=1)
    ranks = [batches(num_samples=n, batch_size=4, shuffle=True, seed=5, epoch=1, rank=r,
                     world_size=2)
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])  # every process takes the same number of steps
    for j, batch in enumerate(one):
        together = sorted(ranks[0][j] + ranks[1][j])
        if n % 2 == 0:
            assert together == sorted(batch)
        else:  # 19 samples: the last batch is padded with the epoch's first sample
            assert set(together) >= set(batch)


def test_uneven_sharding_for_evaluation_counts_each_sample_once():
    shards = [batches(num_samples=7, batch_size=2, shuffle=False, rank=r, world_size=3, even=False)
              for r in range(3)]
    seen = sorted(i for shard in shards for b in shard for i in b)
    assert seen == list(range(7))


def test_replay_loader_keeps_the_loader_settings():
    def collate(items):
        return "collated", len(items)

    loader = DataLoader(make_data(n=10), batch_size=3, shuffle=True, drop_last=True,
                        collate_fn=collate)
    rebuilt, sampler = replay_loader(loader, seed=0)
    assert sampler.shuffle and sampler.drop_last and sampler.batch_size == 3
    assert list(rebuilt) == [("collated", 3)] * 3
    sequential, sampler = replay_loader(DataLoader(make_data(n=10), batch_size=3), seed=0)
    assert not sampler.shuffle
