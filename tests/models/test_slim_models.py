"""The slim variants (a ``width`` below 64) that segedu.zoo trains on a CPU.

The published sizes are tested against torchvision and smp elsewhere; here: the width reaches
every layer, the shapes are right, the options are checked, and only the published size takes
the published weights.
"""

import pytest
import torch
import torchvision

from segedu.models import get_model
from segedu.models.semantic.fcn_vgg import load_vgg16_weights
from segedu.models.semantic.segnet import load_vgg16_bn_encoder


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_slim_fcn8s_shapes_and_channels():
    model = get_model("fcn8s", num_classes=6, width=16, fc_channels=256).eval()
    assert model.fc6.weight.shape == (256, 128, 7, 7)
    assert model.score_pool4.in_channels == 128 and model.score_pool3.in_channels == 64
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 50))["out"].shape == (2, 6, 64, 50)
    with pytest.raises(ValueError, match="published FCN"):
        load_vgg16_weights(model, torchvision.models.vgg16(weights=None).state_dict())
    with pytest.raises(ValueError, match="fc_channels must be a positive int"):
        get_model("fcn32s", fc_channels=0)


def test_slim_segnet_mirrors_its_slim_encoder():
    model = get_model("segnet", num_classes=6, width=16).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    # encoder 3 -> 16 ... 128, decoder 128 ... 16, classifier 16 -> 6
    assert convs[0].out_channels == 16 and convs[12].out_channels == 128
    assert (convs[13].in_channels == 128 and convs[-2].out_channels == 16
            and convs[-1].in_channels == 16)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 65, 64))["out"].shape == (2, 6, 65, 64)
    with pytest.raises(ValueError, match="not a vgg16_bn state dict"):
        load_vgg16_bn_encoder(model, torchvision.models.vgg16_bn(weights=None).state_dict())
    # at width 64 it is the published network
    assert (_count(get_model("segnet", num_classes=6))
            == _count(get_model("segnet", num_classes=6, width=64)))


def test_pspnet_on_another_backbone():
    assert (_count(get_model("pspnet", num_classes=21)) == _count(get_model("pspnet_resnet50"))
            == 48_957_802)
    model = get_model("pspnet", num_classes=6, backbone="resnet18", backbone_width=16,
                      head_channels=64)
    ppm = model.classifier[0]
    assert ppm.out_channels == 2 * 128  # layer4 of a slim ResNet-18 has 8 * 16 channels
    assert model.aux_classifier[0].in_channels == 64  # layer3: 4 * 16
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 63, 64))
    assert out["out"].shape == out["aux"].shape == (2, 6, 63, 64)
    with pytest.raises(ValueError, match="backbone must be one of"):
        get_model("pspnet", backbone="vgg16")


def test_deeplabv3plus_rates_and_slim_backbone():
    model = get_model("deeplabv3plus", num_classes=6, backbone="resnet18", backbone_width=16,
                      output_stride=8, rates=[2, 4, 6], decoder_channels=64).eval()
    aspp = model.decoder.aspp[0]
    assert [branch[0][0].dilation for branch in aspp.convs[1:4]] == [(2, 2), (4, 4), (6, 6)]
    assert model.decoder.reduce_low_level[0].in_channels == 16  # layer1 of the slim ResNet-18
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 67))["out"].shape == (2, 6, 64, 67)
    default = get_model("deeplabv3plus", output_stride=8).decoder.aspp[0]
    assert [branch[0][0].dilation[0] for branch in default.convs[1:4]] == [12, 24, 36]
    for bad in [(1, 2), (0, 1, 2), (1.5, 2, 3)]:
        with pytest.raises(ValueError, match="rates must be three positive ints"):
            get_model("deeplabv3plus", rates=bad)


def test_fcn_resnet_on_a_slim_backbone():
    reference = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                                             aux_loss=True)
    assert _count(get_model("fcn_resnet")) == _count(reference) == 35_322_218
    model = get_model("fcn_resnet", num_classes=6, backbone="resnet18", backbone_width=16).eval()
    assert model.classifier[0].in_channels == 128 and model.aux_classifier[0].in_channels == 64
    with torch.no_grad():
        out = model(torch.randn(2, 3, 61, 64))
    assert out["out"].shape == out["aux"].shape == (2, 6, 61, 64)
    assert "aux" not in get_model("fcn_resnet", num_classes=6, backbone="resnet18",
                                  aux_loss=False).eval()(
        torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="backbone must be one of"):
        get_model("fcn_resnet", backbone="vgg16")
