"""FCN-32s/16s/8s on VGG16: alignment offsets, sizes, parameter counts, convolutionalised VGG."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from segedu.models import get_model
from segedu.models.semantic.fcn_vgg import FCN, bilinear_kernel, coordinate_map, load_vgg16_weights

# VGG16's convolutions: 14,714,688 parameters (torchvision's vgg16().features)
FEATURES = sum(p.numel() for p in torchvision.models.vgg16().features.parameters())
# fc6 512*7*7*4096 + 4096, fc7 4096*4096 + 4096
FC = 512 * 49 * 4096 + 4096 + 4096 * 4096 + 4096


def test_crop_offsets_are_those_of_the_reference_caffe_models():
    # the Crop layers' offsets in fcn.berkeleyvision.org's voc-fcn32s/16s/8s prototxts
    assert FCN.crop_offsets(0) == {"out": 19}
    assert FCN.crop_offsets(1) == {"pool4": 5, "out": 27}
    assert FCN.crop_offsets(2) == {"pool4": 5, "pool3": 9, "out": 31}


def test_coordinate_map_by_hand():
    # a 3x3 conv padded by 1 keeps coordinates; a 2x2 pooling: x -> 2x + 0.5
    assert coordinate_map([("conv", 3, 1, 1)]) == (1.0, 0.0)
    assert coordinate_map([("pool", 2, 2, 0), ("pool", 2, 2, 0)]) == (4.0, 1.5)
    # then a x2 transposed convolution (k4, s2): its output o comes from input (o - 1.5) / 2,
    # so image = 2 (o - 1.5) / 2 + 0.5 = o - 1
    assert coordinate_map([("pool", 2, 2, 0), ("deconv", 4, 2, 0)]) == (1.0, -1.0)


@pytest.fixture(scope="module")
def models():
    """One model of each kind with 3 classes (a VGG16 FCN has 134M parameters: build each once)."""
    return {name: get_model(name, num_classes=3).eval() for name in ["fcn32s", "fcn16s", "fcn8s"]}


@pytest.mark.parametrize(("name", "extra"), [
    ("fcn32s", 21 * 21 * 64 * 64),  # score_fr + upscore (k64, no bias)
    ("fcn16s", 10_773 + 21 * 21 * (16 + 32 * 32)),  # + score_pool4, upscore2 (k4), upscore16 (k32)
    ("fcn8s", 10_773 + 5_397 + 21 * 21 * (16 + 16 + 16 * 16)),  # + score_pool3, upscore_pool4, k16
])
def test_parameter_counts(name, extra, models):
    # the layers that depend on the number of classes K, written for K = 21 above, for K = 3
    extra_3 = {"fcn32s": 9 * 64 * 64, "fcn16s": 512 * 3 + 3 + 9 * (16 + 32 * 32),
               "fcn8s": 512 * 3 + 3 + 256 * 3 + 3 + 9 * (16 + 16 + 16 * 16)}[name]
    assert (sum(p.numel() for p in models[name].parameters())
            == FEATURES + FC + 4096 * 3 + 3 + extra_3)
    if name == "fcn8s":  # the usual 21-class FCN-8s once, with the counts above
        model = get_model(name)
        assert sum(p.numel() for p in model.parameters()) == FEATURES + FC + 4096 * 21 + 21 + extra


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_output_has_the_input_size(name, models):
    # every size on the meta device (shapes only: PyTorch's own shape rules of each op, no
    # arithmetic), then one real forward pass, on the smallest
    with torch.device("meta"):
        shapes_only = get_model(name, num_classes=3).eval()
    for size in [(32, 32), (45, 61), (100, 97), (1, 1)]:
        x = torch.randn(1, 3, *size, device="meta")
        with torch.no_grad():
            assert shapes_only(x)["out"].shape == (1, 3, *size)
    with torch.no_grad():
        assert models[name](torch.randn(1, 3, 32, 32))["out"].shape == (1, 3, 32, 32)


def test_gradients_reach_the_image():
    model = get_model("fcn8s", num_classes=2).eval()
    torch.nn.init.normal_(model.score_fr.weight)  # the scores start at zero: make them not
    torch.nn.init.normal_(model.score_pool3.weight)
    x = torch.randn(1, 3, 40, 40, requires_grad=True)
    model(x)["out"].sum().backward()
    assert x.grad.abs().sum() > 0


def test_fc6_is_vggs_first_fully_connected_layer_as_a_convolution():
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).eval()
    model = load_vgg16_weights(get_model("fcn32s"), vgg.state_dict()).eval()
    # in float64: each output sums 25,088 products, and the convolution and the matrix product
    # add them in different orders (float32 left differences of 3e-5 that depend on the CPU)
    model, vgg = model.double(), vgg.double()
    pool5 = torch.randn(2, 512, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        as_conv = model.fc6(pool5).flatten(1)  # (2, 4096, 1, 1) -> (2, 4096)
        as_linear = vgg.classifier[0](pool5.flatten(1))
        torch.testing.assert_close(as_conv, as_linear, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model.features[2].weight, vgg.features[2].weight)


def test_bilinear_kernel_interpolates_like_f_interpolate():
    # a x2 transposed convolution (kernel 4, padding 1) with the bilinear kernel is bilinear
    # up-sampling (align_corners=False) away from the border
    x = torch.randn(2, 3, 6, 7)
    up = F.conv_transpose2d(x, bilinear_kernel(3, 4), stride=2, padding=1)
    reference = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], reference[..., 1:-1, 1:-1])


def test_bad_skips():
    with pytest.raises(ValueError, match="skips must be 0"):
        FCN(skips=3)
