"""Output-size formulas against the shapes that PyTorch's own layers produce.

Random configurations (valid and invalid alike) are fed both to the formula and to the real layer
on a tiny zero tensor: the sizes must agree, and exactly when the layer refuses the configuration
the formula must raise too.
"""

import random

import pytest
import torch
from torch import nn

from segedu.nn import conv_output_size, conv_transpose_output_size, pool_output_size

CASES = 600


def layer_size(make_layer, n, dims=1):
    """Output size of the layer on a (1, 1, n) / (1, 1, n, n) input, or None when it refuses."""
    try:
        layer = make_layer()
        shape = (1, 1) + (n,) * dims
        return layer(torch.zeros(shape)).shape[-1]
    except (RuntimeError, ValueError):
        return None


def formula_size(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def test_conv_output_size_matches_conv1d_on_random_configurations():
    rng = random.Random(0)
    valid = invalid = 0
    for _ in range(CASES):
        n, k, s = rng.randint(1, 40), rng.randint(1, 9), rng.randint(1, 5)
        p, d = rng.randint(0, 5), rng.randint(1, 4)
        real = layer_size(
            lambda k=k, s=s, p=p, d=d: nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d), n)
        ours = formula_size(conv_output_size, n, k, stride=s, padding=p, dilation=d)
        assert ours == real, (n, k, s, p, d)
        valid += real is not None
        invalid += real is None
    assert valid > 200 and invalid > 50  # both kinds were really exercised


def test_conv_transpose_output_size_matches_conv_transpose1d_on_random_configurations():
    rng = random.Random(1)
    valid = invalid = 0
    for _ in range(CASES):
        n, k, s = rng.randint(1, 20), rng.randint(1, 7), rng.randint(1, 4)
        p, op, d = rng.randint(0, 6), rng.randint(0, 3), rng.randint(1, 3)
        real = layer_size(
            lambda k=k, s=s, p=p, op=op, d=d: nn.ConvTranspose1d(
                1, 1, k, stride=s, padding=p, output_padding=op, dilation=d), n)
        ours = formula_size(conv_transpose_output_size, n, k, stride=s, padding=p,
                            output_padding=op, dilation=d)
        assert ours == real, (n, k, s, p, op, d)
        valid += real is not None
        invalid += real is None
    assert valid > 200 and invalid > 50


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_output_size_matches_pooling_layers_on_random_configurations(pool):
    rng = random.Random(2 if pool == "max" else 3)
    valid = invalid = ceil_differs = 0
    for _ in range(CASES):
        n, k = rng.randint(1, 30), rng.randint(1, 7)
        s = rng.choice([None, rng.randint(1, 5)])
        p, ceil = rng.randint(0, 4), rng.random() < 0.5
        d = rng.randint(1, 3) if pool == "max" else 1  # AvgPool has no dilation
        if pool == "max":
            make = lambda k=k, s=s, p=p, d=d, c=ceil: nn.MaxPool1d(  # noqa: E731
                k, s, padding=p, dilation=d, ceil_mode=c)
        else:
            make = lambda k=k, s=s, p=p, c=ceil: nn.AvgPool1d(k, s, padding=p, ceil_mode=c)  # noqa: E731
        real = layer_size(make, n)
        ours = formula_size(pool_output_size, n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        assert ours == real, (pool, n, k, s, p, d, ceil)
        valid += real is not None
        invalid += real is None
        if real is not None and ceil:
            floor = formula_size(pool_output_size, n, k, stride=s, padding=p, dilation=d)
            ceil_differs += floor != real
    assert valid > 200 and invalid > 30 and ceil_differs > 20


def test_two_dimensional_sizes_match_conv2d_and_maxpool2d():
    rng = random.Random(4)
    for _ in range(100):
        h, w = rng.randint(8, 40), rng.randint(8, 40)
        k, s = (rng.randint(1, 4), rng.randint(1, 3)), (rng.randint(1, 3), 1)
        p, d = (1, rng.randint(0, 2)), (1, 2)
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        assert conv_output_size((h, w), k, stride=s, padding=p, dilation=d) == tuple(
            conv(torch.zeros(1, 1, h, w)).shape[-2:])
        pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        assert pool_output_size((h, w), 2, ceil_mode=True) == tuple(
            pool(torch.zeros(1, 1, h, w)).shape[-2:])
        up = nn.ConvTranspose2d(1, 1, (4, 3), stride=(2, 3), padding=(1, 0), output_padding=(1, 2))
        assert conv_transpose_output_size((h, w), (4, 3), stride=(2, 3), padding=(1, 0),
                                          output_padding=(1, 2)) == tuple(
            up(torch.zeros(1, 1, h, w)).shape[-2:])


def test_hand_computed_cases():
    # the course's formula (H - K + 2P) / S + 1
    assert conv_output_size(32, 3, padding=1) == 32  # (32 - 3 + 2) / 1 + 1
    assert conv_output_size(572, 3) == 570  # the first U-Net layer loses 2 pixels
    assert conv_output_size(7, 3, stride=2, padding=1) == 4  # floor(6 / 2) + 1
    assert conv_output_size(224, 7, stride=2, padding=3) == 112  # ResNet stem: floor(223 / 2) + 1
    assert conv_output_size(32, 3, padding=2, dilation=2) == 32  # span 5, (32 - 5 + 4) + 1
    # transposed: (H - 1) S + (K - 1) - 2P + 1
    assert conv_transpose_output_size(2, 3, stride=2) == 5  # 2 + 2 + 1
    assert conv_transpose_output_size(16, 4, stride=2, padding=1) == 32  # 30 + 3 - 2 + 1
    assert conv_transpose_output_size(1, 64, stride=32, padding=16) == 32  # 0 + 63 - 32 + 1
    # pooling: floor or ceil
    assert pool_output_size(7, 2) == 3 and pool_output_size(7, 2, ceil_mode=True) == 4
    assert pool_output_size(5, 3, stride=3, ceil_mode=True) == 2  # windows at 0 and 3
    # the last ceil window would start at 4 = n + p: it is dropped
    assert pool_output_size(4, 2, stride=2, padding=1, ceil_mode=True) == 3


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv_output_size(3, 5), "spans 5 pixels"),
        (lambda: conv_output_size(8, 0), "kernel_size"),
        (lambda: conv_output_size(8, 3, stride=0), "stride"),
        (lambda: conv_output_size(8, 3, padding=-1), "padding"),
        (lambda: conv_output_size(8, 3, dilation=0), "dilation"),
        (lambda: conv_transpose_output_size(4, 3, stride=2, output_padding=2), "output_padding"),
        (lambda: conv_transpose_output_size(1, 3, padding=2), "too small"),
        (lambda: pool_output_size(8, 3, stride=2, padding=2), "at most half"),
        (lambda: pool_output_size(20, 2, padding=2, dilation=3), "at most half"),
        (lambda: pool_output_size(1, 2), "too small"),
        (lambda: conv_output_size((8, 8), (3, 3, 3)), "3 values for 2 dimensions"),
    ],
)
def test_invalid_arguments_raise_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("bad", [2.0, True, "3", None])
def test_non_integer_arguments_raise_type_error(bad):
    with pytest.raises(TypeError, match="kernel_size"):
        conv_output_size(8, bad)
    with pytest.raises(TypeError):
        conv_output_size(bad, 3)
