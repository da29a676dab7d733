"""Moving nested batches to the device, splitting batches, capturing random states."""

import random
from collections import namedtuple

import numpy as np
import pytest
import torch

from segedu.engine import get_rng_state, preserved_rng, set_rng_state, split_batch, to_device


def test_to_device_moves_every_tensor_and_keeps_the_structure():
    Pair = namedtuple("Pair", "a b")
    batch = {
        "semantic": torch.zeros(2, 4, 4),
        "instances": [torch.ones(3), (torch.ones(1), "name")],
        "pair": Pair(torch.ones(1), 7),
        "n": 3,
    }
    moved = to_device(batch, "meta")  # the meta device: tensors without storage, on any machine
    assert moved["semantic"].device.type == "meta" and moved["semantic"].shape == (2, 4, 4)
    assert isinstance(moved["instances"], list) and isinstance(moved["instances"][1], tuple)
    assert moved["instances"][0].device.type == "meta"
    assert moved["instances"][1][0].device.type == "meta" and moved["instances"][1][1] == "name"
    assert isinstance(moved["pair"], Pair) and moved["pair"].a.device.type == "meta"
    assert moved["pair"].b == 7 and moved["n"] == 3


def test_to_device_keeps_tv_tensor_types():
    from torchvision import tv_tensors

    mask = tv_tensors.Mask(torch.zeros(4, 4, dtype=torch.long))
    assert isinstance(to_device({"semantic": mask}, "cpu")["semantic"], tv_tensors.Mask)


def test_split_batch():
    x, y = torch.zeros(2, 3), torch.ones(2)
    assert split_batch([x, y]) == (x, y)
    assert split_batch((x, y)) == (x, y)
    with pytest.raises(TypeError, match="a tuple of length 3"):
        split_batch((x, y, y))


def test_rng_state_roundtrip_covers_python_numpy_and_torch():
    state = get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(()).item(), np.random.randn())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(()).item(), np.random.randn()) == first


def test_rng_state_survives_a_checkpoint_file(tmp_path):
    from segedu.engine import load_checkpoint, save_checkpoint

    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    save_checkpoint({"rng": get_rng_state()}, tmp_path / "rng.pt")
    first = (random.random(), np.random.randn(), torch.rand(()).item())
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])  # loaded with weights_only=True
    assert (random.random(), np.random.randn(), torch.rand(()).item()) == first


def test_preserved_rng_hides_the_draws_of_a_block():
    state = get_rng_state()
    expected = torch.rand(2)
    set_rng_state(state)
    with preserved_rng():
        torch.rand(100)
        random.random()
    assert torch.equal(torch.rand(2), expected)
