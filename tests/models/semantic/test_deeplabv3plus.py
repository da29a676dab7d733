"""DeepLabv3+ against segmentation-models-pytorch's DeepLabV3Plus, weight for weight."""

import pytest
import torch

from segedu.models import get_model
from segedu.models.semantic.heads import SeparableConv2d

smp = pytest.importorskip("segmentation_models_pytorch")

# smp's names for the same layers: encoder -> backbone, block1 / block2 -> reduce_low_level / fuse
RENAME = [("encoder.", "backbone."), ("decoder.block1.", "decoder.reduce_low_level."),
          ("decoder.block2.", "decoder.fuse."), ("segmentation_head.0.", "classifier.")]


def _from_smp(state_dict):
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith("encoder.fc."):
            continue  # smp keeps ResNet's unused classifier
        for old, new in RENAME:
            if key.startswith(old):
                key = new + key[len(old):]
        renamed[key] = value
    return renamed


def _smp_model(classes, output_stride=16, separable=True):
    rates = (6, 12, 18) if output_stride == 16 else (12, 24, 36)
    model = smp.DeepLabV3Plus(encoder_name="resnet50", encoder_weights=None,
                              encoder_output_stride=output_stride,
                              decoder_atrous_rates=rates, decoder_aspp_separable=separable,
                              classes=classes)
    # the one difference (module docstring): smp also dilates the first 3x3 convolution of each
    # dilated stage; torchvision keeps the previous dilation there. Make smp's like torchvision's.
    stages = [model.encoder.layer4] if output_stride == 16 else [model.encoder.layer3,
                                                                 model.encoder.layer4]
    previous = 1
    for stage in stages:
        stage[0].conv2.dilation, stage[0].conv2.padding = (previous, previous), (previous, previous)
        previous = stage[1].conv2.dilation[0]
    return model.eval()


# (separable=False is not compared: smp's decoder_aspp_separable=False makes only the ASPP's
# branches full convolutions; here it makes the decoder's 3x3 convolutions full ones too)
@pytest.mark.parametrize(("output_stride", "separable"), [(16, True), (8, True)])
def test_same_outputs_as_smp(output_stride, separable):
    torch.manual_seed(0)
    reference = _smp_model(4, output_stride, separable)
    for bn in (m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    model = get_model("deeplabv3plus", num_classes=4, output_stride=output_stride,
                      separable=separable).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for name, p in reference.named_parameters() if not name.startswith("encoder.fc."))
    model.load_state_dict(_from_smp(reference.state_dict()))  # strict: every layer has its partner
    x = torch.randn(2, 3, 64, 96)  # smp needs multiples of 16
    with torch.no_grad():
        torch.testing.assert_close(model(x)["out"], reference(x), rtol=1e-5, atol=1e-5)


def test_odd_sizes_small_backbones_and_errors():
    for backbone in ["resnet18", "resnet34"]:
        model = get_model("deeplabv3plus", num_classes=3, backbone=backbone).eval()
        with torch.no_grad():
            assert model(torch.randn(1, 3, 65, 97))["out"].shape == (1, 3, 65, 97)
    with pytest.raises(ValueError, match="output_stride must be 8 or 16"):
        get_model("deeplabv3plus", output_stride=32)
    with pytest.raises(ValueError, match="backbone must be one of"):
        get_model("deeplabv3plus", backbone="vgg16")


def test_separable_convolution_is_a_factorised_convolution():
    # depthwise then pointwise equals one full convolution whose kernel is their product
    conv = SeparableConv2d(4, 6, 3, dilation=2)
    depthwise, pointwise = conv[0].weight, conv[1].weight  # (4, 1, 3, 3), (6, 4, 1, 1)
    full = pointwise[:, :, 0, 0, None, None] * depthwise[None, :, 0]  # (6, 4, 3, 3)
    x = torch.randn(1, 4, 11, 9)
    expected = torch.nn.functional.conv2d(x, full, padding=2, dilation=2)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
    # 4*9 + 4*6 weights instead of 4*6*9
    assert sum(p.numel() for p in conv.parameters()) == 4 * 9 + 4 * 6
