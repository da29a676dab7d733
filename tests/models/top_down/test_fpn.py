"""The FPN equals torchvision's (same weights, same maps), with either extra block."""

from collections import OrderedDict

import pytest
import torch
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops import FeaturePyramidNetwork as TorchvisionFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool as TvMaxPool
from torchvision.ops.feature_pyramid_network import LastLevelP6P7 as TvP6P7

from segedu.nn.fpn import (
    BackboneWithFPN,
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)
from segedu.nn.resnet import resnet18


@pytest.mark.parametrize("extra", ["none", "pool", "p6p7_from_p5", "p6p7_from_c5"])
def test_fpn_equals_torchvision(extra):
    torch.manual_seed(0)
    ours_extra, theirs_extra = {
        "none": (None, None),
        "pool": (LastLevelMaxPool(), TvMaxPool()),
        "p6p7_from_p5": (LastLevelP6P7(in_channels=8, out_channels=8), TvP6P7(8, 8)),
        "p6p7_from_c5": (LastLevelP6P7(in_channels=40, out_channels=8), TvP6P7(40, 8)),
    }[extra]
    theirs = TorchvisionFPN([10, 20, 40], 8, extra_blocks=theirs_extra)
    ours = FeaturePyramidNetwork(in_channels_list=[10, 20, 40], out_channels=8,
                                 extra_blocks=ours_extra)
    ours.load_state_dict(theirs.state_dict())  # strict: the names are torchvision's
    # odd sizes: the top-down path must upsample to the lateral's size, not simply x2
    x = OrderedDict(a=torch.randn(2, 10, 33, 31), b=torch.randn(2, 20, 17, 16),
                    c=torch.randn(2, 40, 9, 8))
    expected, got = theirs(x), ours(x)
    assert list(got) == list(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


def test_backbone_with_fpn_matches_torchvision_keys_and_outputs():
    torch.manual_seed(0)
    theirs = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                                 norm_layer=torch.nn.BatchNorm2d).eval()
    ours = BackboneWithFPN(body=resnet18(), out_channels=256,
                           extra_blocks=LastLevelMaxPool()).eval()
    ours.load_state_dict(theirs.state_dict())  # strict
    x = torch.randn(1, 3, 96, 80)
    expected, got = theirs(x), ours(x)
    assert list(got) == ["0", "1", "2", "3", "pool"] == list(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name])


def test_fpn_rejects_wrong_number_of_maps():
    fpn = FeaturePyramidNetwork(in_channels_list=[4, 8], out_channels=4)
    with pytest.raises(ValueError, match="built for 2 maps, got 1"):
        fpn(OrderedDict(a=torch.randn(1, 4, 8, 8)))
    with pytest.raises(ValueError, match="returned_stages"):
        BackboneWithFPN(body=resnet18(), returned_stages=(0, 5))
