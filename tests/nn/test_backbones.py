"""ResNet-18/34/50 and VGG16 against torchvision: same parameters, same names, same outputs."""

import pytest
import torch
import torchvision

from segedu.nn.resnet import resnet18, resnet34, resnet50
from segedu.nn.vgg import vgg16, vgg_features


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("ours", "theirs", "dilation"),
    [
        (resnet18, torchvision.models.resnet18, (False, False, False)),
        (resnet34, torchvision.models.resnet34, (False, False, False)),
        (resnet50, torchvision.models.resnet50, (False, False, False)),
        (resnet50, torchvision.models.resnet50, (False, True, True)),
        (resnet50, torchvision.models.resnet50, (True, True, True)),
    ],
    ids=["resnet18", "resnet34", "resnet50", "resnet50-os8", "resnet50-os4"],
)
def test_resnet_equals_torchvision(ours, theirs, dilation):
    torch.manual_seed(0)
    reference = theirs(weights=None, replace_stride_with_dilation=list(dilation)).eval()
    model = ours(replace_stride_with_dilation=dilation).eval()
    assert _count(model) == _count(reference)
    # torchvision's random weights load under the same names, strictly
    model.load_state_dict(reference.state_dict())
    # BN statistics that are not the identity, so that eval mode is really tested
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    reference.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 67, 45)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_resnet_stages_strides_and_headless_output():
    model = resnet50(replace_stride_with_dilation=(False, True, True), include_top=False).eval()
    with torch.no_grad():
        stages = model.forward_stages(torch.randn(1, 3, 64, 96))
        assert [tuple(s.shape[1:]) for s in stages] == [
            (256, 16, 24), (512, 8, 12), (1024, 8, 12), (2048, 8, 12)]  # output stride 8
        assert not hasattr(model, "fc")
    plain = resnet18(include_top=False)
    assert [s.shape[-1] for s in plain.forward_stages(torch.randn(1, 3, 64, 64))] == [16, 8, 4, 2]


def test_basic_block_accepts_dilation_unlike_torchvision():
    with pytest.raises(NotImplementedError):
        torchvision.models.resnet18(replace_stride_with_dilation=[False, True, True])
    dilated = resnet18(replace_stride_with_dilation=(False, True, True))
    stages = dilated.forward_stages(torch.randn(1, 3, 64, 64))
    assert stages[-1].shape == (1, 512, 8, 8)
    with pytest.raises(ValueError, match="3 booleans"):
        resnet18(replace_stride_with_dilation=(True,))


def test_vgg16_equals_torchvision():
    torch.manual_seed(0)
    reference = torchvision.models.vgg16(weights=None).eval()
    model = vgg16().eval()
    assert _count(model) == _count(reference) == 138_357_544
    model.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
        assert model.features(x).shape == (1, 512, 2, 2)  # five poolings: 64 / 32, 80 / 32 -> 2


def test_vgg16_bn_features_equal_torchvision():
    reference = torchvision.models.vgg16_bn(weights=None).features.eval()
    features = vgg_features(batch_norm=True).eval()
    features.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(features(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("width", [8, 16, 32])
def test_slim_resnet_scales_every_stage(width):
    model = resnet18(include_top=False, replace_stride_with_dilation=(False, True, True),
                     width=width)
    assert model.stage_channels == (width, 2 * width, 4 * width, 8 * width)
    stages = model.forward_stages(torch.randn(1, 3, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [
        (width, 16, 16), (2 * width, 8, 8), (4 * width, 8, 8), (8 * width, 8, 8)]
    # every convolution has (width / 64)^2 of the weights, every BN width / 64 of the parameters
    full = resnet18(include_top=False)
    conv = lambda m: sum(c.weight.numel() for c in m.modules() if isinstance(c, torch.nn.Conv2d))  # noqa: E731
    stem = 3 * 7 * 7  # the stem's input stays 3 channels: its weights scale by width / 64 only
    assert (conv(model) - stem * width) * 64**2 == (conv(full) - stem * 64) * width**2
    assert resnet50(include_top=False, width=width).stage_channels == tuple(
        4 * c for c in model.stage_channels)
    with pytest.raises(ValueError, match="width must be a positive int"):
        resnet18(width=0)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_slim_vgg16_features_equal_torchvision_make_layers(batch_norm):
    from segedu.nn.vgg import VGG16_CONFIG, vgg16_config

    assert vgg16_config() == VGG16_CONFIG
    config = vgg16_config(16)
    assert config[:3] == (16, 16, "M") and config[-2:] == (128, "M")
    reference = torchvision.models.vgg.make_layers(list(config), batch_norm=batch_norm).eval()
    features = vgg_features(config, batch_norm=batch_norm).eval()
    features.load_state_dict(reference.state_dict())  # same names, same shapes
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(features(x), reference(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="width must be a positive int"):
        vgg16_config(True)
