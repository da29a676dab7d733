"""The network that Cellpose and Omnipose share (``segedu.models.bottom_up.flow_network``).

Both families are the same padded residual U-Net under the attribute ``unet``; only the number
of output channels (the last 1x1 convolution) and the names of the maps differ. The state-dict
keys stay ``unet.*``, the keys of the shipped Cellpose checkpoint and of the zoo's runs.
"""

from __future__ import annotations

import pytest
import torch

from segedu.models.bottom_up.cellpose import Cellpose
from segedu.models.bottom_up.flow_network import FlowNetwork, check_map_pairs
from segedu.models.bottom_up.omnipose import Omnipose

SIZE = dict(depth=1, width=4)


def test_both_families_are_the_same_network_but_the_head():
    cell, omni = Cellpose(**SIZE).state_dict(), Omnipose(**SIZE).state_dict()
    assert list(cell) == list(omni) and all(key.startswith("unet.") for key in cell)
    differ = sorted(k for k in cell if cell[k].shape != omni[k].shape)
    assert differ == ["unet.head.bias", "unet.head.weight"]
    assert Cellpose(**SIZE).unet.head.out_channels == 3
    assert Omnipose(**SIZE).unet.head.out_channels == 4


def test_the_maps_are_the_head_channels_in_order():
    model = Omnipose(**SIZE).eval()
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, raw = model(images), model.unet(images)["out"]
    assert list(out) == ["flows", "distance", "boundary"]
    assert torch.equal(torch.cat(list(out.values()), dim=1), raw)
    assert torch.equal(out["distance"], raw[:, 2:3])


def test_a_network_without_maps_and_mismatched_pairs_raise():
    with pytest.raises(TypeError, match="maps"):
        FlowNetwork(**SIZE)
    pair = {"flows": torch.zeros(1, 2, 4, 4)}
    check_map_pairs(pair, pair, ("flows",))
    with pytest.raises(KeyError, match="'cellprob'"):
        check_map_pairs(pair, pair, ("flows", "cellprob"))
    with pytest.raises(ValueError, match="do not match"):
        check_map_pairs(pair, {"flows": torch.zeros(1, 2, 4, 5)}, ("flows",))
