"""synthetic_loader: the same seed gives the same batches with 0 and 2 DataLoader workers."""

import numpy as np
import pytest
import torch

from segedu.data import SyntheticCells, SyntheticScenes
from segedu.data.loading import default_workers, synthetic_loader


def _semantic(image, target):
    return image.as_subclass(torch.Tensor), target["semantic"].as_subclass(torch.Tensor)


def _noisy(image, target):
    """A random transform drawing from numpy's global generator (seeded per worker)."""
    return (image.as_subclass(torch.Tensor) + float(np.random.uniform()),
            target["semantic"].as_subclass(torch.Tensor))


def _epochs(loader, n=2):
    return [[(x.clone(), y.clone()) for x, y in loader] for _ in range(n)]


def test_same_seed_same_batches_with_0_and_2_workers():
    scenes = SyntheticScenes(size=24, length=10, seed=3, transforms=_semantic)
    runs = {w: _epochs(synthetic_loader(scenes, batch_size=4, seed=5, num_workers=w, device="cpu"))
            for w in (0, 2)}
    assert [len(e) for e in runs[0]] == [3, 3]
    for first, second in zip(runs[0], runs[2], strict=True):
        for (x0, y0), (x2, y2) in zip(first, second, strict=True):
            assert torch.equal(x0, x2) and torch.equal(y0, y2)
    # the two epochs are shuffled differently, and each holds every item once
    assert not torch.equal(runs[0][0][0][0], runs[0][1][0][0])
    items = torch.cat([x for x, _ in runs[0][0]])
    expected = torch.stack([scenes[i][0] for i in range(10)])
    order = [int(np.argmin([(expected - item).abs().sum(dim=(1, 2, 3)).tolist()]))
             for item in items]
    assert sorted(order) == list(range(10))
    # another seed, another order
    other = _epochs(synthetic_loader(scenes, batch_size=4, seed=6, num_workers=0, device="cpu"), 1)
    assert not torch.equal(other[0][0][0], runs[0][0][0][0])


def test_workers_are_persistent_and_seeded():
    cells = SyntheticCells(size=16, length=6, seed=1, transforms=_noisy)
    loader = synthetic_loader(cells, batch_size=2, seed=0, num_workers=2, shuffle=False,
                              device="cpu")
    assert loader.persistent_workers and loader.num_workers == 2
    # numpy's global generator is seeded per worker: the same noise run after run
    again = synthetic_loader(cells, batch_size=2, seed=0, num_workers=2, shuffle=False,
                             device="cpu")
    for (a, _), (b, _) in zip(loader, again, strict=True):
        assert torch.equal(a, b)


def test_default_workers_and_bad_arguments():
    assert default_workers("cpu") == 0
    assert 1 <= default_workers("cuda") <= 4
    scenes = SyntheticScenes(size=16, length=2)
    with pytest.raises(ValueError, match="batch_size"):
        synthetic_loader(scenes, batch_size=0, device="cpu")
    with pytest.raises(ValueError, match="num_workers"):
        synthetic_loader(scenes, batch_size=1, num_workers=-1, device="cpu")


def test_the_engine_replays_it_with_its_workers():
    from segedu.engine.data_order import replay_loader

    scenes = SyntheticScenes(size=16, length=6, transforms=_semantic)
    loader = synthetic_loader(scenes, batch_size=2, seed=1, num_workers=2, device="cpu")
    rebuilt, sampler = replay_loader(loader, seed=0)
    assert sampler.shuffle and rebuilt.num_workers == 2 and rebuilt.persistent_workers
    ordered, sampler = replay_loader(synthetic_loader(scenes, batch_size=2, shuffle=False,
                                                      num_workers=0,
                                                      device="cpu"), seed=0)
    assert not sampler.shuffle
