"""SegNet: sizes (odd too), parameter count by hand, exact unpooling, torchvision's
VGG16-BN encoder."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from segedu.models.registry import get_model, list_models
from segedu.models.semantic.segnet import SegNet, SegNetDecoderBlock, load_vgg16_bn_encoder


@pytest.fixture(scope="module")
def reference():
    """torchvision's VGG16-BN (138M parameters: build it once), with non-trivial BN statistics."""
    torch.manual_seed(2)
    vgg = torchvision.models.vgg16_bn()
    for bn in (m for m in vgg.features if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)  # so that the statistics must be copied too
        bn.running_var.uniform_(0.5, 1.5)
    return vgg.eval()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return get_model("segnet", num_classes=5, in_channels=3).eval()


def _conv(c_in, c_out, *, bias):
    return 9 * c_in * c_out + (c_out if bias else 0)  # a 3x3 convolution


def test_registered_and_parameter_count_by_hand(model, reference):
    assert "segnet" in list_models()
    assert isinstance(model, SegNet)
    # encoder: VGG16's 13 convolutions with bias (14,714,688, as in torchvision's vgg16().features)
    vgg_convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                 (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    encoder = sum(_conv(a, b, bias=True) for a, b in vgg_convs)
    assert encoder == 14_714_688
    encoder += sum(2 * b for _, b in vgg_convs)  # BN: a weight and a bias per channel (+8,448)
    # decoder, deepest first: 512,512,512 | 512,512,256 | 256,256,128 | 128,64 | 64; no conv bias
    decoder_convs = [(512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 256),
                     (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64)]
    decoder = sum(_conv(a, b, bias=False) + 2 * b for a, b in decoder_convs)
    classifier = _conv(64, 5, bias=True)  # the final 3x3 convolution to 5 classes
    assert encoder == 14_723_136 and decoder == 14_716_160 and classifier == 2_885
    assert (sum(p.numel() for p in model.parameters()) == encoder + decoder + classifier
            == 29_442_181)
    # the encoder has exactly torchvision's vgg16_bn().features parameters
    count = sum(p.numel() for p in reference.features.parameters())
    assert sum(p.numel() for p in model.encoder.parameters()) == count


@pytest.mark.parametrize("size", [(64, 64), (65, 97), (32, 33)])
def test_output_size_equals_input_size(model, size):
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        out = model(x)["out"]
    assert out.shape == (1, 5, *size)
    # the encoder stores the pre-pool sizes: 65 -> 32 -> 16 -> 8 -> 4 -> 2, back up exactly
    _, indices, sizes = model.encode(x)
    if size == (65, 97):
        assert [tuple(s) for s in sizes] == [(65, 97), (32, 48), (16, 24), (8, 12), (4, 6)]
        assert [tuple(i.shape[-2:]) for i in indices] == [(32, 48), (16, 24), (8, 12), (4, 6),
                                                          (2, 3)]


def test_too_small_input_is_refused(model):
    with pytest.raises(ValueError, match="H, W >= 32"):
        model(torch.randn(1, 3, 16, 64))


def test_unpooling_puts_values_exactly_at_the_argmax():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 9, 11)  # odd: the last row and column are dropped by the pooling
    pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)  # (2, 4, 4, 5)
    block = SegNetDecoderBlock((4, 4))
    seen = {}
    block.convs.register_forward_hook(
        lambda module, inputs, output: seen.setdefault("unpooled", inputs[0]))
    block(pooled, indices, x.shape[-2:])
    unpooled = seen["unpooled"]  # what the convolutions receive
    assert unpooled.shape == x.shape
    torch.testing.assert_close(unpooled,
                               F.max_unpool2d(pooled, indices, 2, 2, output_size=x.shape[-2:]),
                               rtol=0, atol=0)
    # by hand: in every 2x2 window, the maximum stays where it was and the other 3 become 0
    for r in range(4):
        for c in range(5):
            window_in = x[:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2]
            window_out = unpooled[:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2]
            is_max = window_in == window_in.amax(dim=(-2, -1), keepdim=True)
            torch.testing.assert_close(window_out, torch.where(is_max, window_in, 0.0), rtol=0,
                                       atol=0)
    assert (unpooled[..., 8, :] == 0).all() and (unpooled[..., :, 10] == 0).all()  # never pooled


def test_torchvision_vgg16_bn_encoder_loads_and_computes_the_same_features(reference):
    model = load_vgg16_bn_encoder(SegNet(num_classes=3), reference.state_dict()).eval()
    convs = [m for m in reference.features if isinstance(m, torch.nn.Conv2d)]
    ours = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert len(ours) == len(convs) == 13
    for a, b in zip(ours, convs, strict=True):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        features, indices, _ = model.encode(x)
        expected = reference.features(x)  # (2, 512, 2, 3)
    assert len(indices) == 5
    torch.testing.assert_close(features, expected, rtol=0, atol=0)


def test_loading_a_foreign_state_dict_fails_clearly(reference):
    model = SegNet(num_classes=3, in_channels=1)  # first convolution: 1 input channel
    with pytest.raises(ValueError, match="vgg16_bn"):
        load_vgg16_bn_encoder(model, reference.state_dict())


def test_gradients_reach_the_encoder():
    model = get_model("segnet", num_classes=2)
    out = model(torch.randn(2, 3, 32, 32))["out"]  # training mode: batch norm uses batch statistics
    F.cross_entropy(out, torch.randint(0, 2, (2, 32, 32))).backward()
    assert model.encoder[0].weight.grad is not None and model.encoder[0].weight.grad.abs().sum() > 0
