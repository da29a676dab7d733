"""Receptive fields from the formula against receptive fields measured by back-propagation."""

import random

import pytest
import torch
from torch import nn

from segedu.nn import receptive_field


def measured_receptive_field(layers: list[tuple[str, int, int, int]], size: int = 160) -> int:
    """Extent of the input pixels that reach one central output pixel, found with autograd.

    Convolutions have all weights 1 and no bias, pooling is average pooling (max pooling would
    send the gradient to one pixel of each window), so every path carries a positive gradient.
    """
    modules = []
    for kind, k, s, d in layers:
        if kind == "conv":
            conv = nn.Conv1d(1, 1, k, stride=s, dilation=d, bias=False)
            nn.init.ones_(conv.weight)
            modules.append(conv)
        else:
            modules.append(nn.AvgPool1d(k, s))
    net = nn.Sequential(*modules).double()
    x = torch.zeros(1, 1, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[-1] // 2].backward()
    touched = (x.grad[0, 0] != 0).nonzero()
    return int(touched.max() - touched.min() + 1)


def test_formula_equals_measured_receptive_field_on_random_stacks():
    rng = random.Random(0)
    for _ in range(120):
        layers = []
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.7:
                layers.append(("conv", rng.randint(1, 5), rng.randint(1, 2), rng.randint(1, 3)))
            else:
                k = rng.randint(2, 3)
                layers.append(("pool", k, rng.randint(1, k), 1))
        expected = measured_receptive_field(layers)
        rf = receptive_field([(k, s, d) for _, k, s, d in layers])
        assert rf.size == expected, layers
        stride = 1
        for _, _, s, _ in layers:
            stride *= s
        assert rf.stride == stride


def test_hand_computed_receptive_fields():
    assert receptive_field([(3, 1, 1)] * 2).size == 5  # 1 + 2 + 2
    assert receptive_field([(3, 1, 1)] * 3).size == 7  # 1 + 2 + 2 + 2
    assert receptive_field([(3, 1, 2)]).size == 5  # 1 + (3 - 1) * 2
    # VGG16 up to conv5_3: blocks of 2, 2, 3, 3, 3 convolutions (3x3) with 2x2 pooling between
    # jumps 1, 2, 4, 8, 16: 1 + 2*2*1 + 1*1 + 2*2*2 + 1*2 + 3*2*4 + 1*4 + 3*2*8 + 1*8 + 3*2*16 = 196
    vgg = []
    for block, convs in enumerate([2, 2, 3, 3, 3]):
        for _ in range(convs):
            vgg += [nn.Conv2d(3, 3, 3, padding=1), nn.ReLU()]
        if block < 4:
            vgg.append(nn.MaxPool2d(2))
    rf = receptive_field(nn.Sequential(*vgg))
    assert (rf.size, rf.stride) == (196, 16)
    assert len(rf.layers) == 17  # 13 convolutions and 4 poolings; the ReLUs are skipped


def test_modules_and_tuples_mix_and_nested_containers_are_opened():
    net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1)), nn.MaxPool2d(2))
    rf = receptive_field([net, (3, 1, 1)])
    # 3x3 conv: 3; pool 2 (jump 1 -> 2): 4; 3x3 conv at jump 2: 4 + 4 = 8
    assert (rf.size, rf.stride) == (8, 2)


def test_a_module_used_twice_counts_twice():
    conv = nn.Conv2d(1, 1, 3)
    assert receptive_field(nn.Sequential(conv, nn.ReLU(), conv)).size == 5


def test_bad_layers_raise():
    with pytest.raises(TypeError, match="nn.Module or a"):
        receptive_field(["conv"])
    with pytest.raises(ValueError, match="kernel_size, stride, dilation"):
        receptive_field([(3, 1)])
    with pytest.raises(ValueError, match=">= 1"):
        receptive_field([(3, 0, 1)])
    with pytest.raises(ValueError, match="transposed"):
        receptive_field(nn.Sequential(nn.ConvTranspose2d(1, 1, 2)))
